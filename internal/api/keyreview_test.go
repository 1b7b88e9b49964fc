package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// reviewedKey is a key as GET /v1/keys shows it for an access review.
type reviewedKey struct {
	ID         string     `json:"id"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Token      *string    `json:"token"`
}

// listedKey returns the key with the id from GET /v1/keys.
func (b *testBundle) listedKey(t *testing.T, id string) reviewedKey {
	t.Helper()
	var list struct{ Data []reviewedKey }
	b.do(t, "GET", "/v1/keys", b.operator, nil).want(t, http.StatusOK, &list)
	for _, k := range list.Data {
		if k.ID == id {
			return k
		}
	}
	t.Fatalf("GET /v1/keys lacks %s", id)
	return reviewedKey{}
}

// A key created with expires_at shows it and works until then; from then
// on it is 401 with the error shape, cached or not. Its last use is shown
// at minute precision, and a key never used shows null.
func TestKeyExpiresAndShowsLastUse(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Date(2030, 3, 4, 10, 20, 30, 0, time.UTC))
	b := setupWith(t, setupOptions{noDispatcher: true, now: clock.Now})
	expires := clock.Now().Add(time.Hour)
	var created struct {
		ID        string
		Token     string
		ExpiresAt *time.Time `json:"expires_at"`
	}
	b.do(t, "POST", "/v1/keys", b.operator, map[string]any{"name": "contractor", "role": "viewer",
		"expires_at": expires.In(time.FixedZone("CET", 3600)).Format(time.RFC3339)}).want(t, http.StatusCreated, &created)
	if created.ExpiresAt == nil || !created.ExpiresAt.Equal(expires) {
		t.Fatalf("created key expires %v, want %v", created.ExpiresAt, expires)
	}
	k := b.listedKey(t, created.ID)
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(expires) || k.LastUsedAt != nil || k.Token != nil {
		t.Fatalf("listed before use: %+v, want expiry %v, never used, no token", k, expires)
	}

	clock.Advance(10 * time.Minute)
	b.do(t, "GET", "/v1/events", created.Token, nil).want(t, http.StatusOK, nil)
	k = b.listedKey(t, created.ID)
	if want := time.Date(2030, 3, 4, 10, 30, 0, 0, time.UTC); k.LastUsedAt == nil || !k.LastUsedAt.Equal(want) {
		t.Fatalf("last used %v, want %v", k.LastUsedAt, want)
	}

	// Just before the expiry the key works (and is cached); at it, no more.
	clock.Set(expires.Add(-time.Millisecond))
	b.do(t, "GET", "/v1/events", created.Token, nil).want(t, http.StatusOK, nil)
	clock.Set(expires)
	msg := b.do(t, "GET", "/v1/events", created.Token, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	if !strings.Contains(msg, "expired") {
		t.Errorf("message %q does not say the token expired", msg)
	}
	clock.Advance(time.Hour)
	b.do(t, "GET", "/v1/keys", created.Token, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	b.assertLogsClean(t, created.Token, b.operator)
}

// A key without expires_at never expires and shows null; an expiry that
// is not a future RFC 3339 time is refused, naming the field.
func TestKeyExpiryValidated(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Date(2030, 3, 4, 10, 20, 30, 0, time.UTC))
	b := setupWith(t, setupOptions{noDispatcher: true, now: clock.Now})
	var created struct {
		ID        string
		ExpiresAt *time.Time `json:"expires_at"`
	}
	b.do(t, "POST", "/v1/keys", b.operator, map[string]any{"role": "admin"}).want(t, http.StatusCreated, &created)
	if created.ExpiresAt != nil {
		t.Errorf("a key created without expires_at expires %v", created.ExpiresAt)
	}
	if k := b.listedKey(t, created.ID); k.ExpiresAt != nil {
		t.Errorf("listed without expiry: %+v", k)
	}
	for _, c := range []struct {
		value any
		want  string
	}{
		{clock.Now().Format(time.RFC3339), "future"},
		{clock.Now().Add(-time.Hour).Format(time.RFC3339), "future"},
		{"tomorrow", "RFC 3339"},
		{"2030-03-05", "RFC 3339"},
		{86400, "string"},
	} {
		msg := b.do(t, "POST", "/v1/keys", b.operator, map[string]any{"role": "admin", "expires_at": c.value}).
			wantError(t, http.StatusBadRequest, "invalid")
		if !strings.HasPrefix(msg, "expires_at") || !strings.Contains(msg, c.want) {
			t.Errorf("expires_at %v: message %q, want it to name the field and say %q", c.value, msg, c.want)
		}
	}
}
