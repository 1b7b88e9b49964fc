package deliver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/thin"
)

// A thin destination's request carries the thin event, as JSON, signed
// over its bytes, and nothing of the payload; the full request of the
// same claim, which its fetch answers with, carries the allowlisted
// payload. A payload the destination may not see is not announced, and
// without a fetch key no thin event is made.
func TestThinRequest(t *testing.T) {
	t.Parallel()
	secret := signature.NewSecret()
	at := time.Now()
	issuer := thin.Issuer{Base: "https://hooks.example.com", Key: []byte(strings.Repeat("k", 32))}
	c := &sluice.Claim{Delivery: sluice.Delivery{ID: "dlv_1", EventID: "evt_1"}, EventType: "invoice.paid",
		ReceivedAt: at.Add(-time.Second), Body: []byte(`{"id":"inv_1","email":"ada@example.com"}`),
		ContentType: "application/json; charset=utf-8", Destination: sluice.Destination{Secret: secret,
			Delivery: sluice.DeliveryThin, Fields: []string{"id"}}}
	req, errClass := deliver.NewRequest(c, at, issuer)
	if errClass != "" {
		t.Fatalf("NewRequest: %s", errClass)
	}
	var ev thin.Event
	if err := json.Unmarshal(req.Body, &ev); err != nil || ev.ID != "evt_1" || strings.Contains(string(req.Body), "inv_1") {
		t.Fatalf("thin request body %s (%v)", req.Body, err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(req.Body, http.Header(req.Header)); err != nil || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("thin request: verify %v, content-type %q", err, req.Header.Get("Content-Type"))
	}
	full, errClass := deliver.FullRequest(c, at)
	if errClass != "" || string(full.Body) != `{"id":"inv_1"}` || full.Header.Get("Content-Type") != c.ContentType {
		t.Fatalf("FullRequest = %s %v, %q", full.Body, full.Header, errClass)
	}
	if err := wh.Verify(full.Body, http.Header(full.Header)); err != nil {
		t.Errorf("the full request does not verify: %v", err)
	}

	c.Body = []byte(`[1,2]`)
	if _, errClass := deliver.NewRequest(c, at, issuer); errClass != deliver.ErrClassFields {
		t.Errorf("a payload that cannot be reduced: class %q, want %q", errClass, deliver.ErrClassFields)
	}
	c.Body = []byte(`{"id":"inv_1"}`)
	if _, errClass := deliver.NewRequest(c, at, thin.Issuer{Base: issuer.Base}); errClass != deliver.ErrClassSigning {
		t.Errorf("without a fetch key: class %q, want %q", errClass, deliver.ErrClassSigning)
	}
}
