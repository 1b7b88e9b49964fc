package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// The real binary withholds a tenant's restricted data from the receiver
// without a personal data grant and sends it whole to the one with a
// grant; a restricted field new to an event type is announced to a
// receiver of sluice.anomaly.* by its path, and no value reaches the
// alert or the server's log.
func TestRestrictedDataThroughTheBinary(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_LOG_LEVEL=debug")
	var ten struct{ ID, Token string }
	if code := call(t, "POST", p.url+"/v1/tenants", token, map[string]string{"name": "shop"}, &ten); code != http.StatusCreated {
		t.Fatalf("create tenant: %d", code)
	}
	if code := call(t, "PATCH", p.url+"/v1/tenants/"+ten.ID, ten.Token, map[string]any{"restricted_data": map[string]any{
		"paths": []string{"customer.phone"}, "subject_types": []string{"email"}}}, nil); code != http.StatusOK {
		t.Fatalf("set restricted data: %d", code)
	}
	granted, plain, alerts := newSink(t, false), newSink(t, false), newSink(t, false)
	for _, d := range []struct {
		s      *sink
		fields map[string]any
	}{
		{granted, map[string]any{"event_types": []string{"order.*"},
			"personal_data": map[string]any{"allowed": true, "purpose": "support", "lawful_basis": "contract"}}},
		{plain, map[string]any{"event_types": []string{"order.*"}}},
		{alerts, map[string]any{"event_types": []string{"sluice.anomaly.*"}}},
	} {
		d.fields["name"], d.fields["url"] = sluice.NewID("dst-"), d.s.srv.URL
		var dest struct{ Secret string }
		if code := call(t, "POST", p.url+"/v1/destinations", ten.Token, d.fields, &dest); code != http.StatusCreated {
			t.Fatalf("create destination: %d", code)
		}
		d.s.setSecret(dest.Secret)
	}

	email, phone := "ada."+randomHex(4)+"@example.com", "+1 555 01"+randomHex(2)
	first := publish(t, p, ten.Token, map[string]any{"type": "order.paid", "payload": map[string]any{"id": "o_1"}})
	payload := map[string]any{"id": "o_2", "customer": map[string]any{"email": email, "phone": phone, "plan": "pro"}}
	second := publish(t, p, ten.Token, map[string]any{"type": "order.paid", "payload": payload})
	whole, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got := granted.waitFor(t, []string{first, second}, 30*time.Second)[second]; !sameJSON(got, whole) {
		t.Errorf("the granted receiver got %s, want %s", got, whole)
	}
	if got := plain.waitFor(t, []string{first, second}, 30*time.Second)[second]; string(got) != `{"customer":{"plan":"pro"},"id":"o_2"}` {
		t.Errorf("the receiver without a grant got %s", got)
	}

	var notices struct{ Data []struct{ ID string } }
	testkit.WaitFor(t, 30*time.Second, func() bool {
		call(t, "GET", p.url+"/v1/events?type=sluice.anomaly.restricted_field", ten.Token, nil, &notices)
		return len(notices.Data) > 0
	}, func() string { return "no sluice.anomaly.restricted_field event" })
	alert := alerts.waitFor(t, []string{notices.Data[0].ID}, 30*time.Second)[notices.Data[0].ID]
	var n sluice.AnomalyNotice
	if err := json.Unmarshal(alert, &n); err != nil || n.Kind != sluice.AnomalyRestrictedField || n.EventType != "order.paid" ||
		n.Detail != "new field paths restricted as personal data: customer.email, customer.phone" {
		t.Errorf("alert %s (%v)", alert, err)
	}
	for _, v := range []string{email, phone} {
		if bytes.Contains(alert, []byte(v)) {
			t.Errorf("the alert carries a value: %s", alert)
		}
		if bytes.Contains([]byte(p.log()), []byte(v)) {
			t.Errorf("the server's log carries a value")
		}
	}
}
