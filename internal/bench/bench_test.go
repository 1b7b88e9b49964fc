package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testlog"
)

// fakeGateway is just enough of Sluice's API for the engine: destinations
// are created and deleted, and every published event is delivered to the
// one destination from a goroutine. It tests the engine, not Sluice.
type fakeGateway struct {
	t         *testing.T
	failEvery int // answer 500 to every failEvery-th event
	dropEvery int // accept but never deliver every dropEvery-th event
	dupEvery  int // deliver every dupEvery-th event twice
	onPublish func(n int)
	// lenient ignores failed deliveries: the receiver is gone once Run ends early.
	lenient bool

	mu      sync.Mutex
	n       int
	dstURL  string
	deleted []string
	wg      sync.WaitGroup
	client  *http.Client
}

func startFakeGateway(t *testing.T, g *fakeGateway) *httptest.Server {
	t.Helper()
	g.t = t
	g.client = &http.Client{Timeout: 10 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/destinations", g.createDestination)
	mux.HandleFunc("DELETE /v1/destinations/{id}", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.deleted = append(g.deleted, r.PathValue("id"))
		g.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/events", g.publish)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		g.wg.Wait()
	})
	return srv
}

func (g *fakeGateway) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"bad token"}}`)
		return false
	}
	return true
}

func (g *fakeGateway) createDestination(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	var d struct {
		Name       string   `json:"name"`
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	if err := json.NewDecoder(r.Body).Decode(&d); err != nil || d.Name != "bench" ||
		!strings.HasPrefix(d.URL, "http://127.0.0.1:") || len(d.EventTypes) != 1 || d.EventTypes[0] != "bench.*" {
		g.t.Errorf("create destination: %+v, %v", d, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.dstURL = d.URL
	g.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"id":"dst_bench","name":"bench"}`)
}

func (g *fakeGateway) publish(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	var e struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil || e.Type != "bench.event" || len(e.Payload) < 100 {
		g.t.Errorf("publish: type %q, %d payload bytes, %v", e.Type, len(e.Payload), err)
	}
	g.mu.Lock()
	g.n++
	n, dst := g.n, g.dstURL
	g.mu.Unlock()
	if g.onPublish != nil {
		g.onPublish(n)
	}
	if g.failEvery > 0 && n%g.failEvery == 0 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	id := fmt.Sprintf("evt_%06d", n)
	times := 1
	if g.dropEvery > 0 && n%g.dropEvery == 0 {
		times = 0
	}
	if g.dupEvery > 0 && n%g.dupEvery == 0 {
		times = 2
	}
	if n%2 == 0 {
		// Deliver before answering: the receiver sees the id first.
		g.deliver(dst, id, e.Payload, times)
	} else {
		g.wg.Go(func() { g.deliver(dst, id, e.Payload, times) })
	}
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"id":%q}`, id)
}

func (g *fakeGateway) deliver(url, id string, body []byte, times int) {
	for range times {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("webhook-id", id)
		resp, err := g.client.Do(req)
		if err != nil {
			if !g.lenient {
				g.t.Errorf("deliver %s: %v", id, err)
			}
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			g.t.Errorf("deliver %s: status %d", id, resp.StatusCode)
		}
	}
}

func TestRunCountsAndLatencies(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{failEvery: 10, dupEvery: 7}
	srv := startFakeGateway(t, g)
	var progress testlog.Buffer
	res, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 300, Concurrency: 16, PayloadBytes: 512,
		Timeout: 30 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Published != 300 || res.Errors != 30 || res.Accepted != 270 || res.Delivered != 270 {
		t.Errorf("published %d, errors %d, accepted %d, delivered %d; want 300, 30, 270, 270",
			res.Published, res.Errors, res.Accepted, res.Delivered)
	}
	if got := res.ErrorsByClass; len(got) != 1 || got["http_500"] != 30 {
		t.Errorf("ErrorsByClass = %v, want http_500: 30", got)
	}
	// Every 7th of the accepted events was delivered twice.
	if want := 300/7 - 300/70; res.Duplicates != want {
		t.Errorf("Duplicates = %d, want %d", res.Duplicates, want)
	}
	for name, p := range map[string]Percentiles{"ack": res.AckLatency, "e2e": res.E2ELatency} {
		if p.P50 <= 0 || p.P50 > p.P95 || p.P95 > p.P99 || p.P99 > p.Max {
			t.Errorf("%s percentiles not ordered: %+v", name, p)
		}
	}
	if res.PublishDuration <= 0 || res.E2EDuration <= 0 || res.AcceptedPerSec <= 0 || res.DeliveredPerSec <= 0 {
		t.Errorf("durations and rates must be positive: %+v", res)
	}
	g.mu.Lock()
	if len(g.deleted) != 1 || g.deleted[0] != "dst_bench" {
		t.Errorf("deleted destinations %v, want [dst_bench]", g.deleted)
	}
	g.mu.Unlock()

	var table strings.Builder
	res.WriteTable(&table)
	out := table.String()
	for _, want := range []string{
		"published", "300", "accepted", "270", "delivered", "http_500", "30",
		formatDuration(res.AckLatency.P50), formatDuration(res.AckLatency.P99),
		formatDuration(res.E2ELatency.P95), formatDuration(res.E2ELatency.Max),
		formatRate(res.AcceptedPerSec), formatRate(res.DeliveredPerSec),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}

func TestRunReportsMissingDeliveries(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{dropEvery: 5}
	srv := startFakeGateway(t, g)
	res, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 50, Concurrency: 4, Timeout: 200 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "10 of 50 accepted events not delivered") {
		t.Fatalf("Run error = %v, want 10 of 50 missing", err)
	}
	if res == nil || res.Accepted != 50 || res.Delivered != 40 {
		t.Fatalf("result %+v, want 50 accepted and 40 delivered", res)
	}
	var table strings.Builder
	res.WriteTable(&table)
	if !strings.Contains(table.String(), "missing") {
		t.Errorf("table does not show missing deliveries:\n%s", table.String())
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := &fakeGateway{lenient: true, onPublish: func(n int) {
		if n == 20 {
			cancel()
		}
	}}
	srv := startFakeGateway(t, g)
	res, err := Run(ctx, Options{URL: srv.URL, Token: "tok", Events: 100000, Concurrency: 4})
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("Run = %v, %v; want context.Canceled", res, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n > 100 {
		t.Errorf("%d events published after cancelling at 20", g.n)
	}
	if len(g.deleted) != 1 {
		t.Errorf("deleted destinations %v, want the bench destination deleted after cancelling", g.deleted)
	}
}

func TestRunSetupErrors(t *testing.T) {
	t.Parallel()
	srv := startFakeGateway(t, &fakeGateway{})
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no URL", Options{Token: "tok"}, "base URL"},
		{"bad token", Options{URL: srv.URL, Token: "nope", Events: 1}, "create destination: HTTP 401 unauthorized: bad token"},
		{"negative events", Options{URL: srv.URL, Events: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Run(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || res != nil {
				t.Fatalf("Run = %v, %v; want no result and an error containing %q", res, err, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // answer only after the client gave up
	}))
	defer slow.Close()
	defer close(release)

	if _, class := newAPIClient(closed, "", 1).publish(context.Background(), []byte("{}")); class != "connect" {
		t.Errorf("closed port: class %q, want connect", class)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, class := newAPIClient(slow.URL, "", 1).publish(ctx, []byte("{}")); class != "timeout" {
		t.Errorf("slow server: class %q, want timeout", class)
	}
	if got := classify(fmt.Errorf("boom")); got != "other" {
		t.Errorf("classify(boom) = %q, want other", got)
	}
}

// lineWriter hands every write to a channel, so a test can wait for output.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

func TestProgressWritesLinesUntilStopped(t *testing.T) {
	t.Parallel()
	w := make(lineWriter)
	n := 0
	stop := startProgress(w, time.Millisecond, func() string {
		n++
		return fmt.Sprintf("published %d/10  delivered 0  errors 0", n)
	})
	for want := 1; want <= 2; want++ {
		select {
		case got := <-w:
			if wantLine := fmt.Sprintf("published %d/10  delivered 0  errors 0\n", want); got != wantLine {
				t.Fatalf("progress line %q, want %q", got, wantLine)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no progress line")
		}
	}
	go func() {
		for range w { // drain a tick racing with stop
		}
	}()
	stop()
	close(w)
	stopNil := startProgress(nil, time.Millisecond, func() string { panic("nil writer must not be called") })
	stopNil()
}
