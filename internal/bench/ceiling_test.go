package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// BenchmarkForwarderCeiling runs the publish and e2e scenarios against a
// forwarder: the least a webhook gateway built on net/http can do. It
// answers every event with an id at once, keeps nothing, and delivers each
// from a pool of workers over a keep-alive client. No store, no
// authentication, no encryption, no signing, no retries.
//
// Its ratios to the baseline are the ceiling for any gateway whose server
// and delivery client are net/http and whose deliveries share the machine
// with the load and the receiver, as they do in `sluice bench`. Sluice's
// own ratios are best read against these, from the same machine:
//
//	go test ./internal/bench -run '^$' -bench ForwarderCeiling -benchtime 3x
func BenchmarkForwarderCeiling(b *testing.B) {
	for _, sc := range []Scenario{ScenarioPublish, ScenarioE2E} {
		b.Run(string(sc), func(b *testing.B) {
			fw, url := startForwarder(b, 64)
			var accepted, delivered []float64
			for b.Loop() {
				rep, err := Run(b.Context(), Options{URL: url, Token: "tok", Scenario: sc, Events: 20000})
				if err != nil {
					b.Fatal(err)
				}
				fw.pending.Wait() // publish does not wait; the next run must not compete
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
	_, url := startForwarder(t, 4)
	rep, err := Run(t.Context(), Options{URL: url, Token: "tok", Scenario: ScenarioE2E, Events: 200, Concurrency: 8})
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

// forwarder is BenchmarkForwarderCeiling's gateway: just enough of the API
// for Run, and a queue of deliveries its workers drain.
type forwarder struct {
	client  *http.Client
	queue   chan forward
	pending sync.WaitGroup // events accepted and not yet delivered or dropped
	wg      sync.WaitGroup

	mu  sync.Mutex
	dst string
}

type forward struct {
	id   string
	body []byte
}

// startForwarder starts a forwarder with workers delivery workers on
// loopback and returns it with its base URL; it stops with the test.
func startForwarder(tb testing.TB, workers int) (*forwarder, string) {
	fw := &forwarder{
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}},
		queue:  make(chan forward, 1<<16),
	}
	for range workers {
		fw.wg.Go(fw.work)
	}
	srv := httptest.NewServer(fw.handler())
	tb.Cleanup(func() {
		srv.Close() // waits for the handlers, the queue's only senders
		fw.close()
	})
	return fw, srv.URL
}

func (fw *forwarder) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/destinations", func(w http.ResponseWriter, r *http.Request) {
		var d struct {
			URL string `json:"url"`
		}
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fw.mu.Lock()
		fw.dst = d.URL
		fw.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"dst_ceiling"}`)
	})
	mux.HandleFunc("DELETE /v1/destinations/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := "evt_" + rand.Text()
		fw.pending.Add(1)
		fw.queue <- forward{id: id, body: body}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"id":%q}`, id)
	})
	return mux
}

// work delivers queued events until the queue is closed.
func (fw *forwarder) work() {
	for f := range fw.queue {
		fw.deliver(f)
		fw.pending.Done()
	}
}

// deliver posts f to the destination once. A failed delivery is dropped:
// Run counts it as missing.
func (fw *forwarder) deliver(f forward) {
	fw.mu.Lock()
	dst := fw.dst
	fw.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, dst, bytes.NewReader(f.body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", f.id)
	resp, err := fw.client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (fw *forwarder) close() {
	close(fw.queue)
	fw.wg.Wait()
	fw.client.CloseIdleConnections()
}
