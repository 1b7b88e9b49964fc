package main_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// The records of processing of a running gateway: a source and a
// destination with their purposes, an event delivered to a real receiver,
// and the CSV an auditor downloads, which names the flow and holds no
// payload value.
func TestRecordsOfProcessingCSV(t *testing.T) {
	t.Parallel()
	dir, token := t.TempDir(), sluice.NewToken()
	p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token)
	rcv := newSink(t, false)

	var src struct{ ID, IngestURL string }
	if code := call(t, "POST", p.url+"/v1/sources", token, map[string]any{"name": "shop",
		"verification": map[string]string{"type": "none"}, "purpose": "order intake", "lawful_basis": "contract",
		"subject_paths": []map[string]string{{"path": "customer.email", "type": "email"}}}, &src); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}
	var dest struct{ ID, Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "crm", "url": rcv.srv.URL,
		"fields": []string{"id", "customer"}, "purpose": "customer support", "lawful_basis": "legitimate_interests",
		"owner": "crm-team@example.com", "region": "eu"}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	rcv.setSecret(dest.Secret)
	email := "r" + randomHex(6) + "@example.com"
	id := ingest(t, p.url+"/in/"+src.ID, []byte(`{"type":"order.paid","id":"ord_1","note":"gift","customer":{"email":"`+email+`"}}`), nil)
	rcv.waitFor(t, []string{id}, 30*time.Second)

	res, body := getBody(t, p.url+"/v1/datamap?format=csv", token)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("records: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if strings.Contains(string(body), email) {
		t.Fatal("the records of processing hold a payload value")
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("records: %d rows, %v; want a header and one flow", len(rows), err)
	}
	cell := func(name string) string { return rows[1][slices.Index(rows[0], name)] }
	for name, want := range map[string]string{"source_id": src.ID, "source_purpose": "order intake",
		"event_type": "order.paid", "subject_types": "email", "destination_id": dest.ID, "purpose": "customer support",
		"lawful_basis": "legitimate_interests", "owner": "crm-team@example.com", "region": "eu",
		"recipient_host": "127.0.0.1", "minimised": "true", "encrypted_at_rest": "true", "payload_storage": "retain"} {
		if got := cell(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// The allowlist leaves "note" out of what the recipient receives.
	if got := cell("field_paths"); got != "customer; customer.email; id" {
		t.Errorf("field_paths = %q", got)
	}
}
