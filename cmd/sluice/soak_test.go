package main_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// Settings of the soak test, from the environment: it runs only when
// SLUICE_SOAK is set to its duration (.ci/run sets it, and runs it after
// the rest of the suite, alone).
const (
	soakEnv        = "SLUICE_SOAK"            // how long events are published, e.g. 60s
	soakRateEnv    = "SLUICE_SOAK_RATE"       // events a second; default 200
	soakRestartEnv = "SLUICE_SOAK_PG_RESTART" // a shell command restarting PostgreSQL
)

// TestSoak publishes open loop, at a steady rate, to a gateway on
// PostgreSQL whose receiver fails one delivery in ten, kills the gateway
// with SIGKILL a fifth of the way in and starts it again, and restarts
// PostgreSQL two fifths of the way in (with SLUICE_SOAK_PG_RESTART; else
// the database is cut off until the gateway notices, as
// TestDatabaseOutage does).
// Publishers retry with their idempotency key until acknowledged. At the
// end no acknowledged event is lost and no key made two events; duplicate
// deliveries are counted and reported, and so is the gateway's memory,
// which must not keep growing.
func TestSoak(t *testing.T) {
	duration, err := time.ParseDuration(os.Getenv(soakEnv))
	if err != nil {
		t.Skipf("%s is not set to a duration: the soak test runs only when asked", soakEnv)
	}
	rate := 200
	if v := os.Getenv(soakRateEnv); v != "" {
		if rate, err = strconv.Atoi(v); err != nil || rate <= 0 {
			t.Fatalf("%s must be a positive number of events a second", soakRateEnv)
		}
	}
	c := newPGCluster(t)
	restart := os.Getenv(soakRestartEnv)
	var proxy *tcpProxy
	dbAddr := ""
	if restart == "" {
		db := c.base.Host
		if c.base.Port() == "" {
			db = net.JoinHostPort(c.base.Hostname(), "5432")
		}
		proxy = newTCPProxy(t, db)
		dbAddr = proxy.addr()
	}
	env := []string{"SLUICE_RETRY_SCHEDULE=0s,100ms,200ms,500ms,1s,1s,2s,2s,5s,5s,5s,5s",
		"SLUICE_DELIVERY_LEASE=3s", "SLUICE_DELIVERY_TIMEOUT=2s"}
	var gateway atomic.Pointer[proc]
	gateway.Store(c.startWith(t, dbAddr, env...))
	rcv := newFlakyReceiver(t)
	var dest struct{ Secret string }
	if code := call(t, "POST", gateway.Load().url+"/v1/destinations", c.token, map[string]any{"name": "soak",
		"url": rcv.srv.URL}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	rcv.setSecret(dest.Secret)

	pub := &soakPublisher{token: c.token, gateway: &gateway, events: map[string]string{}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan struct{})
	go func() { defer close(done); pub.run(ctx, rate) }()
	mem := &heapSampler{}

	start := time.Now()
	at := func(f float64) <-chan time.Time {
		return time.After(time.Until(start.Add(time.Duration(f * float64(duration)))))
	}
	<-at(1.0 / 5)
	old := gateway.Load()
	if err := old.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	old.wait(t)
	gateway.Store(c.startWith(t, dbAddr, env...))
	mem.watch(ctx, gateway.Load())
	t.Logf("killed the gateway at %s; a new one listens", time.Since(start).Round(time.Second))

	<-at(2.0 / 5)
	mem.mark()
	if restart != "" {
		// A checkpoint first, under load, so the restart's own is short:
		// after a busy test suite it took the server 20 s to shut down.
		if _, err := c.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
		if out, err := exec.Command("sh", "-c", restart).CombinedOutput(); err != nil {
			t.Fatalf("restart PostgreSQL (%s): %v\n%s", soakRestartEnv, err, out)
		}
		t.Logf("restarted PostgreSQL at %s", time.Since(start).Round(time.Second))
	} else {
		proxy.cut()
		testkit.WaitFor(t, 30*time.Second, func() bool { return healthz(gateway.Load()) == http.StatusServiceUnavailable },
			func() string { return "waiting for the gateway to notice the database is gone" })
		proxy.resume()
		t.Logf("cut PostgreSQL off at %s until the gateway noticed", time.Since(start).Round(time.Second))
	}
	// The gateway has caught up once what was acknowledged so far has
	// arrived: from then on the load is steady again.
	if missing := rcv.waitFor(pub.acked(), time.Until(start.Add(duration))); missing == 0 {
		t.Logf("caught up at %s", time.Since(start).Round(time.Second))
	}
	mem.mark()

	<-at(1)
	mem.mark()
	stop()
	<-done
	acked := pub.acked()
	missing := rcv.waitFor(acked, 2*time.Minute)
	dups, most := rcv.duplicates(acked)
	heap := mem.stop()
	t.Logf("published %d events at %d/s for %s: %d acknowledged, %d publish retries, %d answers 5xx",
		pub.sent.Load(), rate, duration, len(acked), pub.retries.Load(), pub.serverErrors.Load())
	t.Logf("receiver: %d deliveries answered, %d failed on purpose; %d events arrived more than once (at most %d times)",
		rcv.requests.Load(), rcv.failed.Load(), dups, most)
	t.Logf("gateway's Go heap in use after its restart: %s", heap)
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events were never delivered", missing, len(acked))
	}
	if n := pub.conflicts.Load(); n > 0 {
		t.Fatalf("%d idempotency keys were acknowledged with two different events", n)
	}
	if heap.grew() {
		t.Fatalf("the gateway's memory kept growing: %s", heap)
	}
}

// soakPublisher publishes one event per tick, each with an idempotency key
// of its own, retrying it until it is acknowledged or the run ends.
type soakPublisher struct {
	token   string
	gateway *atomic.Pointer[proc]

	sent, retries, serverErrors, conflicts atomic.Int64

	mu     sync.Mutex
	events map[string]string // idempotency key → event id acknowledged
}

func (p *soakPublisher) run(ctx context.Context, rate int) {
	ticker := time.NewTicker(time.Second / time.Duration(rate))
	defer ticker.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		p.sent.Add(1)
		key := fmt.Sprintf("soak-%d", i)
		wg.Go(func() { p.publish(ctx, key, i) })
	}
}

// publish sends the event of key until it is acknowledged; when ctx ends
// first, it is not, and owes nothing.
func (p *soakPublisher) publish(ctx context.Context, key string, i int) {
	body := map[string]any{"type": "soak.tick", "idempotency_key": key, "payload": map[string]any{"i": i}}
	backoff := 50 * time.Millisecond
	for {
		var res struct{ ID string }
		code := callQuiet(p.gateway.Load().url+"/v1/events", p.token, body, &res)
		if (code == http.StatusAccepted || code == http.StatusOK) && res.ID != "" {
			p.mu.Lock()
			if first, ok := p.events[key]; ok && first != res.ID {
				p.conflicts.Add(1)
			}
			p.events[key] = res.ID
			p.mu.Unlock()
			return
		}
		if code >= 500 {
			p.serverErrors.Add(1)
		}
		p.retries.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// acked returns the ids of the events acknowledged.
func (p *soakPublisher) acked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.events))
	for _, id := range p.events {
		ids = append(ids, id)
	}
	return ids
}

// flakyReceiver is a receiver that answers every tenth delivery 503,
// before reading it, and verifies and records the others as receiver does.
type flakyReceiver struct {
	*receiver
	requests, failed atomic.Int64
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	r := &flakyReceiver{receiver: &receiver{t: t, got: make(map[string]int), changed: make(chan struct{})}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.requests.Add(1)%10 == 0 {
			r.failed.Add(1)
			_, _ = io.Copy(io.Discard, req.Body)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.serve(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// heapSampler reads a gateway's Go heap in use from its /metrics once a
// second, in phases: mark ends one and begins the next.
type heapSampler struct {
	mu     sync.Mutex
	phases [][]int64 // bytes
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *heapSampler) watch(ctx context.Context, p *proc) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	s.phases = [][]int64{nil}
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			if n, ok := heapInUse(p); ok {
				s.mu.Lock()
				s.phases[len(s.phases)-1] = append(s.phases[len(s.phases)-1], n)
				s.mu.Unlock()
			}
		}
	}()
}

// mark begins a new phase of samples.
func (s *heapSampler) mark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phases = append(s.phases, nil)
}

// stop ends the sampling and returns the phases: steady load after the
// gateway's restart, the database's restart and the catching up after it,
// steady load again.
func (s *heapSampler) stop() heapReport {
	if s.cancel == nil {
		return heapReport{}
	}
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return heapReport(s.phases)
}

// heapReport is the samples of each phase.
type heapReport [][]int64

// grew reports whether the heap kept growing: under the same load, once
// caught up after the database's restart, the median heap in use is more
// than twice what it was before the restart and 16 MiB more.
func (r heapReport) grew() bool {
	if len(r) < 3 || len(r[0]) < 3 || len(r[2]) < 3 {
		return false
	}
	before, after := median(r[0]), median(r[2])
	return after > 2*before && after-before > 16<<20
}

func (r heapReport) String() string {
	var parts []string
	for i, name := range []string{"before the database's restart", "during it and the catching up",
		"steady after it"} {
		if i < len(r) && len(r[i]) > 0 {
			parts = append(parts, fmt.Sprintf("median %d MiB %s (%d samples)", median(r[i])>>20, name, len(r[i])))
		}
	}
	if len(parts) == 0 {
		return "no samples"
	}
	return strings.Join(parts, ", ")
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// heapInUse reads go_memstats_heap_inuse_bytes from the gateway's metrics.
func heapInUse(p *proc) (int64, bool) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(p.url + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int64(f), err == nil
		}
	}
	return 0, false
}
