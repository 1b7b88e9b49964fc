package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// resolved is the answer to POST /v1/pseudonyms/resolve.
type resolved struct {
	DestinationID string `json:"destination_id"`
	Subject       struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"subject"`
}

func (b *testBundle) resolve(t *testing.T, token, destinationID, pseudonym string) *response {
	t.Helper()
	return b.do(t, "POST", "/v1/pseudonyms/resolve", token,
		map[string]string{"destination_id": destinationID, "token": pseudonym})
}

// A destination that pseudonymises a path gets a token there; an admin
// resolves it, audited without the subject; a viewer may not; a token
// unknown to the destination, or of a subject erased since, is 404; and
// no value reaches the logs.
func TestResolvePseudonym(t *testing.T) {
	t.Parallel()
	eachStore(t, testResolvePseudonym)
}

func testResolvePseudonym(t *testing.T, o setupOptions) {
	b := setupWith(t, o)
	rcv := newReceiver(t)
	d := b.destination(t, b.operator, map[string]any{"url": rcv.srv.URL, "event_types": []string{"*"},
		"pseudonymize": []string{"customer.email"}})
	other := b.destination(t, b.operator, map[string]any{"url": rcv.srv.URL, "event_types": []string{"nothing"}})
	const email = "ada.lovelace@example.com"
	b.publish(t, b.operator, map[string]any{"type": "order.created",
		"payload": map[string]any{"customer": map[string]any{"email": email}, "total": 12}})
	var hooks []hook
	testkit.WaitFor(t, 10*time.Second, func() bool { hooks = rcv.got(); return len(hooks) == 1 },
		func() string { return fmt.Sprintf("the receiver got %d requests, want 1", len(hooks)) })
	if strings.Contains(string(hooks[0].body), email) {
		t.Fatalf("the destination got the address: %s", hooks[0].body)
	}
	var sent struct {
		Customer struct{ Email string }
	}
	if err := json.Unmarshal(hooks[0].body, &sent); err != nil || !strings.HasPrefix(sent.Customer.Email, "pst_") {
		t.Fatalf("sent %s, %v; want a token for the address", hooks[0].body, err)
	}
	token := sent.Customer.Email

	var got resolved
	r := b.resolve(t, b.operator, d.ID, token)
	r.want(t, http.StatusOK, &got)
	if got.DestinationID != d.ID || got.Subject.Type != "email" || got.Subject.Value != email {
		t.Fatalf("resolved %+v, want the address", got)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", cc)
	}

	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.do(t, "POST", "/v1/pseudonyms/resolve", viewer, map[string]string{"destination_id": d.ID, "token": token}).
		want(t, http.StatusForbidden, nil)
	b.resolve(t, b.operator, other.ID, token).want(t, http.StatusNotFound, nil)
	b.resolve(t, b.tenant(t, "other"), d.ID, token).want(t, http.StatusNotFound, nil)
	b.resolve(t, b.operator, d.ID, "pst_"+strings.Repeat("a", 32)).want(t, http.StatusNotFound, nil)
	b.resolve(t, b.operator, d.ID, "nope").want(t, http.StatusBadRequest, nil)
	b.resolve(t, b.operator, "", token).want(t, http.StatusBadRequest, nil)

	// The audit log names the destination, never the subject or token.
	var audit struct {
		Data []map[string]any `json:"data"`
	}
	b.do(t, "GET", "/v1/audit?limit=100", b.operator, nil).want(t, http.StatusOK, &audit)
	resolves := 0
	for _, e := range audit.Data {
		raw, _ := json.Marshal(e)
		if strings.Contains(string(raw), email) || strings.Contains(string(raw), token) {
			t.Fatalf("an audit entry holds the subject or the token: %s", raw)
		}
		if e["action"] == "pseudonym.resolve" {
			resolves++
			if e["resource_id"] != d.ID && e["resource_id"] != other.ID {
				t.Fatalf("pseudonym.resolve names %v", e["resource_id"])
			}
		}
	}
	if resolves != 3 {
		t.Fatalf("%d pseudonym.resolve entries, want 3 (the resolutions tried in this tenant)", resolves)
	}

	b.erase(t, "email", email)
	b.resolve(t, b.operator, d.ID, token).want(t, http.StatusNotFound, nil)
	b.assertLogsClean(t, email, token)
}
