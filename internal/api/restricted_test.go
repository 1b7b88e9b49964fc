package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// A tenant's restricted data reaches only the destination with a personal
// data grant: the one without gets the policy's paths and every value of
// a restricted subject type removed, from published events (by their
// subjects) and received ones (by the source's subject paths), even
// through its allowlist. The data map shows what was withheld, and
// nothing of a value reaches the logs.
func TestRestrictedDataWithheld(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, o setupOptions) {
		b := setupWith(t, o)
		var ten struct{ ID, Token string }
		b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{"name": "shop"}).want(t, http.StatusCreated, &ten)
		b.do(t, "PATCH", "/v1/tenants/"+ten.ID, ten.Token, map[string]any{"restricted_data": map[string]any{
			"paths": []string{"customer.phone"}, "subject_types": []string{"email", "customer_id"}}}).want(t, http.StatusOK, nil)

		granted, plain, listed := newReceiver(t), newReceiver(t), newReceiver(t)
		b.destination(t, ten.Token, map[string]any{"url": granted.srv.URL, "event_types": []string{"order.*"},
			"personal_data": map[string]any{"allowed": true, "purpose": "support", "lawful_basis": "contract"}})
		stats := b.destination(t, ten.Token, map[string]any{"url": plain.srv.URL, "event_types": []string{"order.*"}})
		b.destination(t, ten.Token, map[string]any{"url": listed.srv.URL, "event_types": []string{"order.*"},
			"fields": []string{"customer.email", "amount"}})

		const published = `{"amount":42,"customer":{"email":"Ada@Example.com","phone":"+1 555 0100","id":"cus_8Kq2"},` +
			`"lines":[{"sku":"a","for":"cus_8Kq2"}]}`
		pub := b.publish(t, ten.Token, map[string]any{"type": "order.paid", "payload": json.RawMessage(published),
			"subjects": []map[string]string{{"type": "customer_id", "value": "cus_8Kq2"}}})
		src := b.source(t, ten.Token, map[string]any{"name": "shop", "verification": map[string]string{"type": "none"},
			"subject_paths": []map[string]string{{"path": "buyer.ref", "type": "customer_id"}}})
		const received = `{"type":"order.shipped","buyer":{"ref":"ref-77","country":"fr"},"note":"to ada@example.com"}`
		var in ingested
		res := b.ingest(t, src.ID, []byte(received), http.Header{"Content-Type": {"application/json"}})
		if res.status != http.StatusAccepted || json.Unmarshal(res.body, &in) != nil {
			t.Fatalf("ingest: %d %s", res.status, res.body)
		}
		for _, id := range []string{pub, in.EventID} {
			b.waitDeliveries(t, ten.Token, id, func(ds []delivery) bool {
				return len(ds) == 3 && !slices.ContainsFunc(ds, func(d delivery) bool { return d.Status != sluice.DeliverySucceeded })
			})
		}
		bodies := func(r *receiver) map[string]string {
			out := map[string]string{}
			for _, h := range r.got() {
				out[h.header.Get("webhook-id")] = string(h.body)
			}
			return out
		}
		if got := bodies(granted); got[pub] != published || got[in.EventID] != received {
			t.Errorf("the granted destination got %v, want everything", got)
		}
		got := bodies(plain)
		if want := `{"amount":42,"customer":{},"lines":[{"sku":"a"}]}`; got[pub] != want {
			t.Errorf("published without a grant: %s, want %s", got[pub], want)
		}
		if want := `{"buyer":{"country":"fr"},"type":"order.shipped"}`; got[in.EventID] != want {
			t.Errorf("received without a grant: %s, want %s", got[in.EventID], want)
		}
		if got := bodies(listed); got[pub] != `{"amount":42}` {
			t.Errorf("an allowlist naming a restricted field let through %s", got[pub])
		}

		var m struct {
			Sources []struct {
				ID    string `json:"id"`
				Flows []struct {
					EventType     string `json:"event_type"`
					DestinationID string `json:"destination_id"`
					Withheld      *struct {
						Paths        []string `json:"paths"`
						SubjectTypes []string `json:"subject_types"`
					} `json:"withheld"`
				} `json:"flows"`
			} `json:"sources"`
		}
		b.do(t, "GET", "/v1/datamap", ten.Token, nil).want(t, http.StatusOK, &m)
		withheld := map[string]string{}
		for _, s := range m.Sources {
			for _, f := range s.Flows {
				if f.DestinationID == stats.ID && f.Withheld != nil {
					withheld[s.ID+"/"+f.EventType] = strings.Join(f.Withheld.Paths, ",") + " | " +
						strings.Join(f.Withheld.SubjectTypes, ",")
				}
			}
		}
		want := map[string]string{"/order.paid": "customer.phone | customer_id,email",
			src.ID + "/order.shipped": "buyer.ref | customer_id,email"}
		if len(withheld) != 2 || withheld["/order.paid"] != want["/order.paid"] ||
			withheld[src.ID+"/order.shipped"] != want[src.ID+"/order.shipped"] {
			t.Errorf("data map withheld from %s = %v, want %v", stats.ID, withheld, want)
		}
		b.assertLogsClean(t, "ada@example.com", "Ada@Example.com", "cus_8Kq2", "ref-77", "555 0100")
	})
}

// A restricted field new to a source's event type raises
// sluice.anomaly.restricted_field, delivered to a destination subscribed
// to anomalies, naming the path and never its value; the same field again
// raises nothing.
func TestRestrictedFieldAlert(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ten struct{ ID, Token string }
	b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{"name": "shop"}).want(t, http.StatusCreated, &ten)
	b.do(t, "PATCH", "/v1/tenants/"+ten.ID, ten.Token, map[string]any{"restricted_data": map[string]any{
		"paths": []string{"customer.phone"}}}).want(t, http.StatusOK, nil)
	alerts := newReceiver(t)
	b.destination(t, ten.Token, map[string]any{"url": alerts.srv.URL, "event_types": []string{"sluice.anomaly.*"}})
	b.publish(t, ten.Token, map[string]any{"type": "order.paid", "payload": map[string]any{"id": "o_1"}})
	b.publish(t, ten.Token, map[string]any{"type": "order.paid",
		"payload": map[string]any{"id": "o_2", "customer": map[string]any{"phone": "+1 555 0100"}}})
	var notice sluice.AnomalyNotice
	testkit.WaitFor(t, 10*time.Second, func() bool {
		for _, h := range alerts.got() {
			if h.header.Get("Sluice-Event-Type") == sluice.NoticeAnomalyPrefix+sluice.AnomalyRestrictedField {
				if bytes.Contains(h.body, []byte("555")) {
					t.Fatalf("the alert carries the value: %s", h.body)
				}
				return json.Unmarshal(h.body, &notice) == nil
			}
		}
		return false
	}, func() string { return "no restricted_field alert was delivered" })
	if notice.EventType != "order.paid" || notice.Detail != "new field paths restricted as personal data: customer.phone" {
		t.Errorf("alert %+v", notice)
	}
	b.publish(t, ten.Token, map[string]any{"type": "order.paid",
		"payload": map[string]any{"id": "o_3", "customer": map[string]any{"phone": "+1 555 0199"}}})
	var events struct{ Data []struct{ ID string } }
	b.do(t, "GET", "/v1/events?type="+sluice.NoticeAnomalyPrefix+sluice.AnomalyRestrictedField, ten.Token, nil).
		want(t, http.StatusOK, &events)
	if len(events.Data) != 1 {
		t.Errorf("restricted_field alerts = %d, want 1", len(events.Data))
	}
	b.assertLogsClean(t, "555 0100", "555 0199")
}
