package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// BenchmarkForwarderCeiling runs the publish and e2e scenarios against a
// forwarder (forwarder.go) as the gateway: the least a webhook gateway
// built on net/http can do. It answers every event with an id at once,
// keeps nothing, and delivers each from a pool of workers over a
// keep-alive client. No store, no authentication, no encryption, no
// signing, no retries.
//
// Its ratios to the baseline are the ceiling for any gateway whose server
// and delivery client are net/http and whose deliveries share the machine
// with the load and the receiver, as they do in `sluice bench`, which
// measures the same forwarder in every run (its forwarder row) and prints
// Sluice's rates as shares of it. This benchmark gives the ceiling alone,
// over several runs:
//
//	go test ./internal/bench -run '^$' -bench ForwarderCeiling -benchtime 3x
func BenchmarkForwarderCeiling(b *testing.B) {
	for _, sc := range []Scenario{ScenarioPublish, ScenarioE2E} {
		b.Run(string(sc), func(b *testing.B) {
			fw, url := startForwarderGateway(b, forwarderWorkers)
			var accepted, delivered []float64
			for b.Loop() {
				rep, err := Run(b.Context(), Options{URL: url, Token: "tok", Scenario: sc, Events: 20000,
					SkipForwarder: true})
				if err != nil {
					b.Fatal(err)
				}
				fw.idle() // publish does not wait; the next run must not compete
				if r, ok := rep.AcceptedRatio(); ok {
					accepted = append(accepted, r)
				}
				if r, ok := rep.DeliveredRatio(); ok {
					delivered = append(delivered, r)
				}
			}
			if len(accepted) > 0 {
				b.ReportMetric(median(accepted), "accepted/baseline")
			}
			if len(delivered) > 0 {
				b.ReportMetric(median(delivered), "delivered/baseline")
			}
		})
	}
}

// TestForwarderDeliversEveryEvent keeps BenchmarkForwarderCeiling honest:
// its forwarder must carry every event, or its figures would be a
// ceiling for something less than a gateway.
func TestForwarderDeliversEveryEvent(t *testing.T) {
	_, url := startForwarderGateway(t, 4)
	rep, err := Run(t.Context(), Options{URL: url, Token: "tok", Scenario: ScenarioE2E, Events: 200, Concurrency: 8,
		SkipForwarder: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sluice.Accepted != 200 || rep.Sluice.Delivery == nil || rep.Sluice.Delivery.Delivered != 200 {
		t.Fatalf("forwarder: accepted %d, delivery %+v; want 200 of each", rep.Sluice.Accepted, rep.Sluice.Delivery)
	}
	if _, ok := rep.DeliveredRatio(); !ok {
		t.Fatal("no delivered ratio to the baseline")
	}
}

// median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// startForwarderGateway serves a forwarder with workers delivery workers
// on loopback as a gateway Run can be pointed at: with just enough of the
// API to create and delete the bench destination, which becomes its
// destination. It returns the forwarder and its base URL; it stops with the
// test.
func startForwarderGateway(tb testing.TB, workers int) (*forwarder, string) {
	fw := newForwarder(workers, "")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/destinations", func(w http.ResponseWriter, r *http.Request) {
		var d struct {
			URL string `json:"url"`
		}
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fw.setDestination(d.URL)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"dst_ceiling"}`)
	})
	mux.HandleFunc("DELETE /v1/destinations/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/", fw.handler())
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() {
		srv.Close()
		fw.close()
	})
	return fw, srv.URL
}
