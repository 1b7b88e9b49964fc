package bench

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
	"github.com/sluicehq/sluice/internal/subject"
)

// Payloads are the size asked for, whatever the event number's length, and
// still valid JSON when the size is smaller than their fields.
func TestWorkloadPayloadSize(t *testing.T) {
	t.Parallel()
	v := &sluice.Verification{Type: sluice.VerifyStripe, Secret: "whsec_test"}
	typ := runEventType("tag")
	for _, size := range []int{1, 60, 1024, 5000} {
		for _, n := range []int64{1, 99999, 1234567890} {
			body, _, err := newPublishWorkload("tok", typ, size).request(n, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Type    string
				Payload json.RawMessage
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Type != typ {
				t.Fatalf("publish body %s: %v", body, err)
			}
			digits := len(strconv.FormatInt(n, 10))
			if want := max(size, len(publishBefore)+digits+len(fillerBefore)+len(payloadEnd)); len(e.Payload) != want {
				t.Errorf("publish payload %d bytes for size %d, n %d", len(e.Payload), size, n)
			}

			now := time.Now()
			body, header, err := newIngestWorkload("src_x", v, typ, size).request(n, now)
			if err != nil {
				t.Fatal(err)
			}
			fields := len(typeBefore) + len(typ) + len(ingestIDBefore) + len(ingestIDPrefix) + digits + len(`"`) + len(fillerBefore) + len(payloadEnd)
			if want := max(size, fields); len(body) != want {
				t.Errorf("ingest payload %d bytes for size %d, n %d", len(body), size, n)
			}
			var ev struct{ ID, Type string }
			if err := json.Unmarshal(body, &ev); err != nil || ev.Type != typ || ev.ID != "evt_bench_"+strconv.FormatInt(n, 10) {
				t.Errorf("ingest body %s: %v", body, err)
			}
			if err := inbound.Verify(v, header, body, now); err != nil {
				t.Errorf("ingest signature: %v", err)
			}
			if header.Get("Authorization") != "" {
				t.Errorf("ingest request carries a bearer token")
			}
		}
	}
}

// benchPayload is what the gateway scans for subjects in a request the
// workload built: the "payload" member of a publish, the whole body of an
// ingested webhook (internal/api passes the finder the same).
func benchPayload(t *testing.T, w *workload, body []byte) []byte {
	t.Helper()
	if w.verify != nil {
		return body
	}
	var e struct{ Payload json.RawMessage }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("publish body %s: %v", body, err)
	}
	return e.Payload
}

// With subjects, every payload still has exactly the size asked for and
// names one address of its own, and the subject finder the gateway runs on
// ingest (subject.Emails) finds exactly that address in it, in the form
// an erasure request for it is normalised to. Without subjects it finds
// none, so the first phase names no subject.
func TestWorkloadSubjects(t *testing.T) {
	t.Parallel()
	const domain = "k3jd8sq2.bench.example"
	v := &sluice.Verification{Type: sluice.VerifyStripe, Secret: "whsec_test"}
	for _, plain := range []*workload{newPublishWorkload("tok", runEventType("a"), 1024), newIngestWorkload("src_x", v, runEventType("a"), 300)} {
		w := plain.withSubjects(domain, 0)
		seen := map[string]int64{}
		for _, n := range []int64{1, 2, 3, 9, 10, 11, 99, 100, 12345, 20000, 1234567890} {
			now := time.Now()
			body, header, err := w.request(n, now)
			if err != nil {
				t.Fatal(err)
			}
			payload := benchPayload(t, w, body)
			if len(payload) != w.size {
				t.Errorf("%s: payload of event %d is %d bytes, want %d", w.path, n, len(payload), w.size)
			}
			var p struct{ Email, ID string }
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Fatalf("%s: payload %s: %v", w.path, payload, err)
			}
			want := "customer-" + strconv.FormatInt(n, 10) + "@" + domain
			if p.Email != want || w.email(n) != want {
				t.Errorf("%s: event %d names %q (email(n) %q), want %q", w.path, n, p.Email, w.email(n), want)
			}
			if m, dup := seen[p.Email]; dup {
				t.Errorf("%s: events %d and %d both name %q", w.path, m, n, p.Email)
			}
			seen[p.Email] = n

			found := subject.Emails(payload, "application/json")
			if !slices.Equal(found, []string{want}) {
				t.Errorf("%s: the finder found %q in event %d, want [%s]", w.path, found, n, want)
			}
			norm, err := subject.Normalize(subject.Subject{Type: "email", Value: want})
			if err != nil || norm.Value != want {
				t.Errorf("%s: %q normalises to %q, %v; want it unchanged", w.path, want, norm.Value, err)
			}
			if plainBody, _, _ := plain.request(n, now); subject.Emails(benchPayload(t, plain, plainBody), "application/json") != nil {
				t.Errorf("%s: a payload without subjects names one: %s", w.path, plainBody)
			}

			if w.verify != nil {
				// The first phase's ids are taken: the gateway would drop these
				// as retries of them.
				if !strings.HasPrefix(p.ID, subjectsIDPrefix) || p.ID == ingestIDPrefix+strconv.FormatInt(n, 10) {
					t.Errorf("ingest id %q, want one apart from the first phase's", p.ID)
				}
				if err := inbound.Verify(v, header, body, now); err != nil {
					t.Errorf("ingest signature: %v", err)
				}
			}
		}
	}
}

// A pool of subjects gives event n the address of customer n modulo the
// pool: the same few customers again and again.
func TestWorkloadSubjectPool(t *testing.T) {
	t.Parallel()
	w := newPublishWorkload("tok", runEventType("a"), 512).withSubjects("pool.bench.example", 3)
	var got []string
	for n := range int64(7) {
		body, _, err := w.request(n, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		payload := benchPayload(t, w, body)
		if len(payload) != 512 {
			t.Fatalf("payload of event %d is %d bytes, want 512", n, len(payload))
		}
		got = append(got, subject.Emails(payload, "application/json")...)
	}
	want := []string{"customer-0@pool.bench.example", "customer-1@pool.bench.example", "customer-2@pool.bench.example",
		"customer-0@pool.bench.example", "customer-1@pool.bench.example", "customer-2@pool.bench.example",
		"customer-0@pool.bench.example"}
	if !slices.Equal(got, want) {
		t.Fatalf("addresses %v, want %v", got, want)
	}
}
