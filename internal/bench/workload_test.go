package bench

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

// Payloads are the size asked for, whatever the event number's length, and
// still valid JSON when the size is smaller than their fields.
func TestWorkloadPayloadSize(t *testing.T) {
	t.Parallel()
	v := &sluice.Verification{Type: sluice.VerifyStripe, Secret: "whsec_test"}
	for _, size := range []int{1, 60, 1024, 5000} {
		for _, n := range []int64{1, 99999, 1234567890} {
			body, _, err := newPublishWorkload("tok", size).request(n, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Type    string
				Payload json.RawMessage
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Type != "bench.event" {
				t.Fatalf("publish body %s: %v", body, err)
			}
			digits := len(strconv.FormatInt(n, 10))
			if want := max(size, len(publishBefore)+digits+len(publishAfter)+len(payloadEnd)); len(e.Payload) != want {
				t.Errorf("publish payload %d bytes for size %d, n %d", len(e.Payload), size, n)
			}

			now := time.Now()
			body, header, err := newIngestWorkload("src_x", v, size).request(n, now)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(size, len(ingestBefore)+digits+len(ingestAfter)+len(payloadEnd)); len(body) != want {
				t.Errorf("ingest payload %d bytes for size %d, n %d", len(body), size, n)
			}
			var ev struct{ ID, Type string }
			if err := json.Unmarshal(body, &ev); err != nil || ev.Type != "bench.event" || ev.ID != "evt_bench_"+strconv.FormatInt(n, 10) {
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
