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
// with SIGKILL a third of the way in and starts it again, and restarts
// PostgreSQL two thirds of the way in (with SLUICE_SOAK_PG_RESTART; else
// the database is cut off for a few seconds, as TestDatabaseOutage does).
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
	mem := &rssSampler{}

	start := time.Now()
	at := func(f float64) <-chan time.Time {
		return time.After(time.Until(start.Add(time.Duration(f * float64(duration)))))
	}
	<-at(1.0 / 3)
	old := gateway.Load()
	if err := old.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	old.wait(t)
	gateway.Store(c.startWith(t, dbAddr, env...))
	mem.watch(ctx, gateway.Load().cmd.Process.Pid)
	t.Logf("killed the gateway at %s; a new one listens", time.Since(start).Round(time.Second))

	<-at(2.0 / 3)
	if restart != "" {
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

	<-at(1)
	stop()
	<-done
	acked := pub.acked()
	missing := rcv.waitFor(acked, 2*time.Minute)
	dups, most := rcv.duplicates(acked)
	rss := mem.stop()
	t.Logf("published %d events at %d/s for %s: %d acknowledged, %d publish retries, %d answers 5xx",
		pub.sent.Load(), rate, duration, len(acked), pub.retries.Load(), pub.serverErrors.Load())
	t.Logf("receiver: %d deliveries answered, %d failed on purpose; %d events arrived more than once (at most %d times)",
		rcv.requests.Load(), rcv.failed.Load(), dups, most)
	t.Logf("gateway RSS after the restart: %s", rss)
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events were never delivered", missing, len(acked))
	}
	if n := pub.conflicts.Load(); n > 0 {
		t.Fatalf("%d idempotency keys were acknowledged with two different events", n)
	}
	if rss.grew() {
		t.Fatalf("the gateway's memory kept growing: %s", rss)
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

// rssSampler reads a process's resident set size once a second.
type rssSampler struct {
	mu      sync.Mutex
	samples []int64 // kB
	cancel  context.CancelFunc
	done    chan struct{}
}

func (s *rssSampler) watch(ctx context.Context, pid int) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
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
			if kb, ok := readRSS(pid); ok {
				s.mu.Lock()
				s.samples = append(s.samples, kb)
				s.mu.Unlock()
			}
		}
	}()
}

// stop ends the sampling and returns what it saw.
func (s *rssSampler) stop() rssReport {
	if s.cancel == nil {
		return rssReport{}
	}
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return rssReport(append([]int64(nil), s.samples...))
}

// rssReport is a process's RSS, in kB, once a second.
type rssReport []int64

// grew reports whether the RSS kept growing: the last third's peak is over
// half as large again as the middle third's and 32 MiB above it. The
// first third is warm-up (caches, pools, queues filling after a restart).
func (r rssReport) grew() bool {
	if len(r) < 9 {
		return false
	}
	third := len(r) / 3
	middle, last := peak(r[third:2*third]), peak(r[2*third:])
	return last > middle*3/2 && last-middle > 32<<10
}

func (r rssReport) String() string {
	if len(r) == 0 {
		return "no samples (not on Linux?)"
	}
	third := max(len(r)/3, 1)
	return fmt.Sprintf("%d samples; peak %d MiB in the first third, %d MiB in the middle, %d MiB in the last",
		len(r), peak(r[:third])>>10, peak(r[third:min(2*third, len(r))])>>10, peak(r[min(2*third, len(r)-1):])>>10)
}

func peak(kb []int64) int64 {
	var m int64
	for _, v := range kb {
		m = max(m, v)
	}
	return m
}

// readRSS reads VmRSS of the process from /proc, in kB.
func readRSS(pid int) (int64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
