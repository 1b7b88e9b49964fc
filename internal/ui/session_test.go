package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// refused fails unless path, fetched by br, sends it to sign in and shows
// nothing of the page.
func (br *browser) refused(path string, secret ...string) {
	br.t.Helper()
	res, err := br.client.Get(br.base + path)
	if err != nil {
		br.t.Fatal(err)
	}
	defer res.Body.Close()
	body := readBody(br.t, res)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		br.t.Errorf("%s: %d to %q, want sign-in", path, res.StatusCode, res.Header.Get("Location"))
	}
	for _, s := range secret {
		if strings.Contains(body, s) {
			br.t.Errorf("%s shows %q to an ended session", path, s)
		}
	}
}

// keyCreated creates a key through the API and returns its id and token.
func (b *testBundle) keyCreated(t *testing.T, fields map[string]any) (id, token string) {
	t.Helper()
	var k struct{ ID, Token string }
	if code, raw := b.call(t, "POST", "/v1/keys", b.operator, fields, &k); code != http.StatusCreated {
		t.Fatalf("create key: %d %s", code, raw)
	}
	return k.ID, k.Token
}

// Sessions signed in with a key that is then deleted read nothing more:
// not the events, an event's deliveries, nor the audit log. Each page is
// tried by a session of its own, so that none is refused only because an
// earlier refusal ended its session.
func TestDeletedKeyReadsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ev := b.publish(t, map[string]any{"type": "order.paid", "payload": map[string]any{"id": "o_1"}})
	keyID, token := b.viewer(t)
	pages := []string{"/ui/events", "/ui/events/" + ev, "/ui/privacy", "/ui/audit", "/ui/"}
	sessions := make([]*browser, len(pages))
	for i, p := range pages {
		sessions[i] = b.signIn(t, token)
		if code, body := sessions[i].get(p); code != http.StatusOK {
			t.Fatalf("%s before the deletion: %d %.200s", p, code, body)
		}
	}
	if code, raw := b.call(t, "DELETE", "/v1/keys/"+keyID, b.operator, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete key: %d %s", code, raw)
	}
	for i, p := range pages {
		sessions[i].refused(p, ev, "key.delete")
	}
	br := sessions[0]
	// Its token signs in no more either.
	res, err := br.client.PostForm(br.base+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign in with a deleted key: %d, want 401", res.StatusCode)
	}
}

// A key that expires ends its sessions on their next request, and signs
// in no more, with a message that says so.
func TestExpiredKeyEndsItsSession(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Date(2030, 3, 4, 10, 20, 30, 0, time.UTC))
	b := setupAt(t, clock.Now)
	expires := clock.Now().Add(time.Hour)
	_, token := b.keyCreated(t, map[string]any{"role": "viewer", "expires_at": expires.Format(time.RFC3339)})
	br := b.signIn(t, token)
	clock.Set(expires.Add(-time.Second))
	if code, _ := br.get("/ui/events"); code != http.StatusOK {
		t.Fatalf("events page before the expiry: %d", code)
	}
	clock.Set(expires)
	br.refused("/ui/events")
	res, err := br.client.PostForm(br.base+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if body := readBody(t, res); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Errorf("sign in with an expired key: %d, says expired: %v", res.StatusCode, strings.Contains(body, "expired"))
	}
}

// Signing in and out is audited, the key both actor and resource; a failed
// sign-in writes nothing, and the token is in no log.
func TestSignInAndOutAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keyID, token := b.viewer(t)
	before := len(b.audit(t))
	wrong := sluice.NewToken()
	res, err := http.PostForm(b.srv.URL+"/ui/login", url.Values{"token": {wrong}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign in with an unknown token: %d", res.StatusCode)
	}
	if after := len(b.audit(t)); after != before {
		t.Errorf("a failed sign-in wrote %d audit entries", after-before)
	}

	br := b.signIn(t, token)
	res = br.post("/ui/logout", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		t.Fatalf("sign out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	br.refused("/ui/events")

	var got []string
	for _, e := range b.audit(t) {
		if strings.HasPrefix(e.Action, "session.") {
			if e.ActorKeyID != keyID || e.ResourceID != keyID {
				t.Errorf("%s by %q on %q, want the key %s", e.Action, e.ActorKeyID, e.ResourceID, keyID)
			}
			got = append(got, e.Action)
		}
	}
	if strings.Join(got, " ") != "session.sign_out session.sign_in" {
		t.Errorf("session entries, newest first: %v", got)
	}
	for _, secret := range []string{token, wrong} {
		if strings.Contains(b.logs.String(), secret) {
			t.Error("a token is in the logs")
		}
	}
}

// The dashboard records a key's use as the API does: at the minute, once
// a minute.
func TestSessionRecordsKeyUse(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Date(2030, 3, 4, 10, 20, 30, 0, time.UTC))
	b := setupAt(t, clock.Now)
	_, token := b.viewer(t)
	lastUsed := func() time.Time {
		t.Helper()
		k, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return k.LastUsedAt
	}
	if got := lastUsed(); !got.IsZero() {
		t.Fatalf("a key never used was used at %v", got)
	}
	br := b.signIn(t, token)
	if got, want := lastUsed(), time.Date(2030, 3, 4, 10, 20, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("after sign-in last used %v, want %v", got, want)
	}
	clock.Advance(2 * time.Minute)
	if code, _ := br.get("/ui/events"); code != http.StatusOK {
		t.Fatalf("events page: %d", code)
	}
	if got, want := lastUsed(), time.Date(2030, 3, 4, 10, 22, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("after a page last used %v, want %v", got, want)
	}
}
