package thin_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/thin"
)

// A token opens with its key to its grant, and with nothing else: not
// another key, not altered in any byte, not truncated, not garbage.
func TestTokenOpensOnlyWithItsKey(t *testing.T) {
	t.Parallel()
	key, other := []byte(strings.Repeat("k", 32)), []byte(strings.Repeat("o", 32))
	g := thin.Grant{DeliveryID: sluice.NewID(sluice.PrefixDelivery), ExpiresAt: time.Unix(1_900_000_000, 0).UTC()}
	token := thin.Token(key, g)
	if got, ok := thin.Open(key, token); !ok || got != g {
		t.Fatalf("Open = %+v, %v; want %+v", got, ok, g)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	for i := range raw {
		altered := append([]byte(nil), raw...)
		altered[i] ^= 1
		if _, ok := thin.Open(key, base64.RawURLEncoding.EncodeToString(altered)); ok {
			t.Fatalf("a token altered at byte %d opens", i)
		}
	}
	for name, bad := range map[string]string{"another key": thin.Token(other, g), "truncated": token[:len(token)-4],
		"garbage": "not-a-token!", "empty": "", "too long": strings.Repeat("A", thin.MaxTokenLength+1)} {
		if _, ok := thin.Open(key, bad); ok {
			t.Errorf("%s opens", name)
		}
	}
	if _, ok := thin.Open(nil, token); ok {
		t.Error("a token opens without a key")
	}
	if !g.Expired(g.ExpiresAt) || g.Expired(g.ExpiresAt.Add(-time.Second)) {
		t.Error("a grant ends at its expiry, not before")
	}
}

// A thin event names the event and a fetch URL on the base that lives the
// destination's fetch lifetime from the attempt, to the second, and
// carries nothing of the payload.
func TestIssuerEvent(t *testing.T) {
	t.Parallel()
	key := []byte(strings.Repeat("k", 32))
	at := time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.UTC)
	c := &sluice.Claim{Delivery: sluice.Delivery{ID: "dlv_1", EventID: "evt_1"}, EventType: "invoice.paid",
		ReceivedAt: at.Add(-time.Minute), Body: []byte(`{"secret":"value"}`),
		Destination: sluice.Destination{Delivery: sluice.DeliveryThin, FetchTTL: 90 * time.Second}}
	body, ok := thin.Issuer{Base: "https://hooks.example.com/", Key: key}.Event(c, at)
	if !ok || strings.Contains(string(body), "value") {
		t.Fatalf("Event = %s, %v", body, ok)
	}
	var ev thin.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	wantExpiry := time.Date(2026, 3, 4, 5, 7, 37, 0, time.UTC)
	if ev.ID != "evt_1" || ev.Type != "invoice.paid" || !ev.CreatedAt.Equal(c.ReceivedAt) ||
		!ev.FetchExpiresAt.Equal(wantExpiry) || !strings.HasPrefix(ev.FetchURL, "https://hooks.example.com/v1/fetch/") {
		t.Fatalf("thin event %+v", ev)
	}
	g, ok := thin.Open(key, strings.TrimPrefix(ev.FetchURL, "https://hooks.example.com"+thin.PathPrefix))
	if !ok || g.DeliveryID != "dlv_1" || !g.ExpiresAt.Equal(wantExpiry) {
		t.Fatalf("the fetch URL's token opens to %+v, %v", g, ok)
	}
	if _, ok := (thin.Issuer{Base: "https://hooks.example.com"}).Event(c, at); ok {
		t.Error("an issuer without a key made a thin event")
	}
}
