package api_test

import (
	"net/http"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
)

// A destination with a field allowlist receives exactly those fields,
// signed over what it receives; another gets the whole payload, and the
// stored event stays whole. A payload that is not a JSON object is not
// sent to it at all.
func TestFieldAllowlistMinimizesDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	minimal, whole := newReceiver(t), newReceiver(t)
	dest := b.destination(t, b.operator, map[string]any{"url": minimal.srv.URL, "fields": []string{"id", "data.amount"}})
	b.destination(t, b.operator, map[string]any{"url": whole.srv.URL})
	if len(dest.Fields) != 2 {
		t.Fatalf("created destination fields %v", dest.Fields)
	}
	const payload = `{"id":"inv_1","data":{"amount":4200,"customer":{"email":"ada@example.com"}},"note":"private"}`
	var pub struct{ ID string }
	b.do(t, "POST", "/v1/events", b.operator, `{"type":"invoice.paid","payload":`+payload+`}`).want(t, http.StatusAccepted, &pub)
	b.waitDeliveries(t, b.operator, pub.ID, func(ds []delivery) bool {
		return len(ds) == 2 && ds[0].Status == sluice.DeliverySucceeded && ds[1].Status == sluice.DeliverySucceeded
	})

	got := minimal.got()
	if len(got) != 1 || string(got[0].body) != `{"data":{"amount":4200},"id":"inv_1"}` {
		t.Fatalf("the allowlisted destination got %q", got[0].body)
	}
	wh, err := standardwebhooks.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].body, got[0].header); err != nil {
		t.Errorf("the minimized delivery does not verify: %v", err)
	}
	if all := whole.got(); len(all) != 1 || string(all[0].body) != payload {
		t.Errorf("the other destination got %q, want the whole payload", all[0].body)
	}
	var ev event
	b.do(t, "GET", "/v1/events/"+pub.ID, b.operator, nil).want(t, http.StatusOK, &ev)
	if string(ev.Payload) != payload {
		t.Errorf("the stored payload is %s, want it whole", ev.Payload)
	}

	// Not an object: nothing is sent, and the delivery ends at once.
	notObject := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": []int{1, 2}})
	b.waitDeliveries(t, b.operator, notObject, func(ds []delivery) bool {
		for _, d := range ds {
			if d.DestinationID == dest.ID {
				return d.Status == sluice.DeliveryExhausted
			}
		}
		return false
	})
	if n := len(minimal.got()); n != 1 {
		t.Errorf("the allowlisted destination got %d requests, want still 1", n)
	}
	var as struct{ Data []attempt }
	b.do(t, "GET", "/v1/events/"+notObject+"/attempts", b.operator, nil).want(t, http.StatusOK, &as)
	for _, a := range as.Data {
		if a.DestinationID == dest.ID && (a.Error == nil || *a.Error != "fields" || a.HTTPStatus != nil) {
			t.Errorf("attempt to the allowlisted destination %+v, want error class fields and no request", a)
		}
	}

	// null lifts the allowlist.
	var patched destination
	b.do(t, "PATCH", "/v1/destinations/"+dest.ID, b.operator, `{"fields":null}`).want(t, http.StatusOK, &patched)
	if patched.Fields != nil {
		t.Errorf("after fields null: %v", patched.Fields)
	}
}
