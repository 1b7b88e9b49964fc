package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/anomaly"
	"github.com/sluicehq/sluice/internal/testkit"
)

// The data map shows, for each source and for published events, the event
// types seen, the subject types indexed and which destination gets each
// type with which fields, and never a payload value.
func TestDataMap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t)
	src := b.source(t, b.operator, map[string]any{"name": "shop", "verification": map[string]string{"type": "none"}})
	minimal := b.destination(t, b.operator, map[string]any{"name": "analytics", "url": rcv.srv.URL, "fields": []string{"id", "amount"}})
	orders := b.destination(t, b.operator, map[string]any{"name": "fulfilment", "url": rcv.srv.URL, "event_types": []string{"order.*"}})
	b.destination(t, b.operator, map[string]any{"name": "alerts", "url": rcv.srv.URL, "event_types": []string{"sluice.*"}})

	b.ingest(t, src.ID, []byte(`{"type":"order.paid","id":"ord_1","amount":4200,"customer":{"email":"ada@example.com"}}`), nil).
		want(t, http.StatusAccepted, nil)
	b.publish(t, b.operator, map[string]any{"type": "user.created", "payload": map[string]any{"name": "Ada Lovelace"},
		"subjects": []map[string]string{{"type": "user_id", "value": "u_8271"}}})

	res := b.do(t, "GET", "/v1/datamap", b.operator, nil)
	var m struct {
		Sources []struct {
			ID           string   `json:"id"`
			Name         string   `json:"name"`
			EventTypes   []string `json:"event_types"`
			SubjectTypes []string `json:"subject_types"`
			Flows        []struct {
				EventType     string   `json:"event_type"`
				DestinationID string   `json:"destination_id"`
				Fields        []string `json:"fields"`
			} `json:"flows"`
		} `json:"sources"`
		Destinations []struct {
			ID     string   `json:"id"`
			Fields []string `json:"fields"`
		} `json:"destinations"`
	}
	res.want(t, http.StatusOK, &m)
	for _, value := range []string{"ada@example.com", "Ada Lovelace", "4200", "ord_1", "u_8271"} {
		if strings.Contains(string(res.body), value) {
			t.Errorf("the data map holds the payload value %q", value)
		}
	}
	if len(m.Sources) != 2 || len(m.Destinations) != 3 {
		t.Fatalf("data map has %d sources and %d destinations, want 2 and 3: %s", len(m.Sources), len(m.Destinations), res.body)
	}
	bySource := map[string]int{}
	for i, s := range m.Sources {
		bySource[s.ID] = i
	}
	shop, published := m.Sources[bySource[src.ID]], m.Sources[bySource[""]]
	if shop.Name != "shop" || !slices.Equal(shop.EventTypes, []string{"order.paid"}) || !slices.Equal(shop.SubjectTypes, []string{"email"}) {
		t.Errorf("shop = %+v", shop)
	}
	if len(shop.Flows) != 2 {
		t.Fatalf("shop flows = %+v, want order.paid to analytics (2 fields) and fulfilment (all)", shop.Flows)
	}
	for _, f := range shop.Flows {
		switch f.DestinationID {
		case minimal.ID:
			if !slices.Equal(f.Fields, []string{"id", "amount"}) {
				t.Errorf("analytics flow fields = %v", f.Fields)
			}
		case orders.ID:
			if f.Fields != nil {
				t.Errorf("fulfilment flow fields = %v, want null (the whole payload)", f.Fields)
			}
		default:
			t.Errorf("unexpected flow %+v", f)
		}
	}
	if published.Name == "" || !slices.Equal(published.EventTypes, []string{"user.created"}) ||
		!slices.Equal(published.SubjectTypes, []string{"user_id"}) || len(published.Flows) != 1 ||
		published.Flows[0].DestinationID != minimal.ID {
		t.Errorf("published = %+v", published)
	}
}

// A field path never seen before for a source's event type is announced as
// sluice.anomaly.schema_drift, signed, naming the path and no value; a
// type's first event is not drift.
func TestSchemaDriftAlert(t *testing.T) {
	t.Parallel()
	b := setup(t)
	alerts := newReceiver(t)
	src := b.source(t, b.operator, map[string]any{"name": "shop", "verification": map[string]string{"type": "none"}})
	dest := b.destination(t, b.operator, map[string]any{"url": alerts.srv.URL, "event_types": []string{"sluice.anomaly.*"}})

	for _, body := range []string{
		`{"type":"order.paid","id":"1","amount":1}`,
		`{"type":"order.paid","id":"2","amount":2}`,
		`{"type":"order.paid","id":"3","amount":3,"card":{"number":"4242424242424242"}}`,
	} {
		b.ingest(t, src.ID, []byte(body), nil).want(t, http.StatusAccepted, nil)
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(alerts.got()) > 0 },
		func() string { return "no schema drift alert arrived" })
	got := alerts.got()
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1", len(got))
	}
	wh, err := standardwebhooks.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].body, got[0].header); err != nil {
		t.Fatalf("alert signature: %v", err)
	}
	var a sluice.AnomalyNotice
	if err := json.Unmarshal(got[0].body, &a); err != nil {
		t.Fatal(err)
	}
	if a.SourceID != src.ID || a.EventType != "order.paid" || a.Kind != sluice.AnomalySchemaDrift ||
		!strings.Contains(a.Detail, "card.number") || a.At.IsZero() {
		t.Fatalf("alert = %+v", a)
	}
	if strings.Contains(string(got[0].body), "4242") {
		t.Fatal("the alert holds a payload value")
	}
}

// A steady rate raises nothing; a burst far above it raises one
// sluice.anomaly.burst, and verification failures piling up on a source one
// sluice.anomaly.auth_failures, both signed, naming ids and types only.
func TestBurstAndAuthFailureAlerts(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Now())
	b := setupWith(t, setupOptions{now: clock.Now, anomalies: &anomaly.Detector{Window: time.Second, Factor: 5,
		MinBurst: 20, Warmup: 3, AuthFailures: 5, Cooldown: time.Hour}})
	alerts := newReceiver(t)
	dest := b.destination(t, b.operator, map[string]any{"url": alerts.srv.URL, "event_types": []string{"sluice.anomaly.*"}})
	signed := b.source(t, b.operator, map[string]any{"name": "stripe",
		"verification": map[string]string{"type": "stripe", "secret": "whsec_alerts_test"}})

	for range 5 { // a steady 4 a second
		for range 4 {
			b.publish(t, b.operator, map[string]any{"type": "order.paid", "payload": map[string]any{}})
		}
		clock.Advance(time.Second)
	}
	if got := alerts.got(); len(got) != 0 {
		t.Fatalf("a steady rate raised %d alerts", len(got))
	}
	for range 40 {
		b.publish(t, b.operator, map[string]any{"type": "order.paid", "payload": map[string]any{}})
	}
	for range 6 {
		b.ingest(t, signed.ID, []byte(`{"type":"x","id":"1"}`), nil).want(t, http.StatusUnauthorized, nil)
	}

	testkit.WaitFor(t, 10*time.Second, func() bool { return len(alerts.got()) >= 2 },
		func() string { return fmt.Sprintf("%d alerts arrived, want 2", len(alerts.got())) })
	wh, err := standardwebhooks.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]sluice.AnomalyNotice{}
	for _, h := range alerts.got() {
		if err := wh.Verify(h.body, h.header); err != nil {
			t.Fatalf("alert signature: %v", err)
		}
		var a sluice.AnomalyNotice
		if err := json.Unmarshal(h.body, &a); err != nil {
			t.Fatal(err)
		}
		kinds[a.Kind] = a
	}
	if a := kinds[sluice.AnomalyBurst]; a.SourceID != "" || a.EventType != "order.paid" || a.Detail == "" {
		t.Errorf("burst alert = %+v", a)
	}
	if a := kinds[sluice.AnomalyAuthFailures]; a.SourceID != signed.ID || a.Detail == "" {
		t.Errorf("auth failures alert = %+v", a)
	}
	if len(kinds) != 2 || len(alerts.got()) != 2 {
		t.Errorf("alerts = %v, want one of each", kinds)
	}
}

// The records of processing list each flow with its purposes, recipient,
// retention and safeguards, as JSON and as CSV, and no payload value.
func TestRecordsOfProcessing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t)
	src := b.source(t, b.operator, map[string]any{"name": "shop", "verification": map[string]string{"type": "none"},
		"purpose": "order intake", "lawful_basis": "contract", "subject_paths": []map[string]string{{"path": "customer.email", "type": "email"}}})
	crm := b.destination(t, b.operator, map[string]any{"name": "crm", "url": rcv.srv.URL, "fields": []string{"customer"},
		"pseudonymize": []string{"customer.email"}, "purpose": "support", "lawful_basis": "legitimate_interests",
		"owner": "crm-team@example.com", "region": "eu"})
	b.ingest(t, src.ID, []byte(`{"type":"order.paid","id":"ord_1","customer":{"email":"ada@example.com"}}`), nil).
		want(t, http.StatusAccepted, nil)

	res := b.do(t, "GET", "/v1/datamap/records", b.operator, nil)
	var out struct {
		Records []struct {
			SourceID      string   `json:"source_id"`
			SourcePurpose string   `json:"source_purpose"`
			EventType     string   `json:"event_type"`
			SubjectTypes  []string `json:"subject_types"`
			FieldPaths    []string `json:"field_paths"`
			DestinationID string   `json:"destination_id"`
			Purpose       string   `json:"purpose"`
			LawfulBasis   string   `json:"lawful_basis"`
			Region        string   `json:"region"`
			Owner         string   `json:"owner"`
			Pseudonymised bool     `json:"pseudonymised"`
			Minimised     bool     `json:"minimised"`
			Retention     struct {
				Delivered string `json:"delivered"`
			} `json:"retention"`
		} `json:"records"`
	}
	res.want(t, http.StatusOK, &out)
	if len(out.Records) != 1 {
		t.Fatalf("records %s, want one flow", res.body)
	}
	r := out.Records[0]
	if r.SourceID != src.ID || r.SourcePurpose != "order intake" || r.EventType != "order.paid" ||
		!slices.Equal(r.SubjectTypes, []string{"email"}) || !slices.Equal(r.FieldPaths, []string{"customer", "customer.email"}) ||
		r.DestinationID != crm.ID || r.Purpose != "support" || r.LawfulBasis != "legitimate_interests" || r.Region != "eu" ||
		r.Owner != "crm-team@example.com" || !r.Pseudonymised || !r.Minimised || r.Retention.Delivered == "" {
		t.Errorf("record %+v", r)
	}

	for _, path := range []string{"/v1/datamap?format=csv", "/v1/datamap/records?format=csv"} {
		res := b.do(t, "GET", path, b.operator, nil)
		if res.status != http.StatusOK || res.header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("%s: %d %s", path, res.status, res.header.Get("Content-Type"))
		}
		lines := strings.Split(strings.TrimSpace(string(res.body)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "source_id,") || !strings.Contains(lines[1], crm.ID) {
			t.Errorf("%s: csv %q", path, lines)
		}
		for _, value := range []string{"ada@example.com", "ord_1"} {
			if strings.Contains(string(res.body), value) {
				t.Errorf("%s holds the payload value %q", path, value)
			}
		}
	}
	b.do(t, "GET", "/v1/datamap?format=xml", b.operator, nil).wantError(t, http.StatusBadRequest, "invalid")
}
