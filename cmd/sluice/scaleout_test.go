package main_test

// Scale-out on PostgreSQL (docs/operations.md): several `sluice serve`
// processes share one database, claim work with FOR UPDATE SKIP LOCKED and
// a lease, and take over a dead process's deliveries when its leases end.

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// startCluster starts n processes on c's schema, one after the other: the
// first migrates and bootstraps, and its tables must be in the schema.
func startCluster(t *testing.T, c *pgCluster, n int) []*proc {
	t.Helper()
	procs := []*proc{c.start(t, "")}
	c.requireMigratedSchema(t)
	for range n - 1 {
		procs = append(procs, c.start(t, ""))
	}
	return procs
}

// Three processes on one schema deliver 5,000 events published round-robin
// across them: every acknowledged event exactly once (no failures are
// injected, so a second delivery would mean a delivery claimed twice), and
// each process does a fair share of the work.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	procs := startCluster(t, c, 3)
	rcv := newReceiver(t)
	c.createDestination(t, procs[0], rcv)

	const events, publishers = 5000, 16
	start := time.Now()
	acked, failed := publishRoundRobin(c.token, events, publishers, func(i int) *proc { return procs[i%len(procs)] })
	published := time.Since(start)
	if failed > 0 || len(acked) != events {
		t.Fatalf("%d of %d events acknowledged, %d publishes failed", len(acked), events, failed)
	}
	if missing := rcv.waitFor(acked, 60*time.Second); missing > 0 {
		t.Fatalf("%d of %d acknowledged events never delivered", missing, len(acked))
	}
	elapsed := time.Since(start)
	if dups, most := rcv.duplicates(acked); dups > 0 {
		t.Errorf("%d events delivered more than once (one %d times) with no failure injected", dups, most)
	}
	if n := rcv.distinct(); n != len(acked) {
		t.Errorf("receiver got %d distinct webhook ids, want %d", n, len(acked))
	}

	// The receiver answers before the attempt is recorded and logged: wait
	// for the log lines to catch up.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		total := 0
		for _, p := range procs {
			total += countSucceeded(p)
		}
		return total >= len(acked)
	}, func() string { return "waiting for every delivery logged as succeeded" })
	var shares []int
	total := 0
	for _, p := range procs {
		n := countSucceeded(p)
		shares = append(shares, n)
		total += n
	}
	if total != len(acked) {
		t.Errorf("the processes logged %d deliveries succeeded, want %d", total, len(acked))
	}
	for i, n := range shares {
		if n*20 < total {
			t.Errorf("process %d delivered %d of %d (under 5%%): the work is not spread", i+1, n, total)
		}
	}
	t.Logf("%d events through %d processes: published in %s, all delivered after %s (%.0f events/s end to end); delivered per process %v",
		len(acked), len(procs), published.Round(time.Millisecond), elapsed.Round(time.Millisecond),
		float64(len(acked))/elapsed.Seconds(), shares)
	for _, p := range procs {
		stopSluice(t, p)
	}
	requireNoErrors(t, procs)
}

// Three processes started at once on an empty schema all come up: one
// migrates while the others wait for its lock, one bootstraps the operator
// and the others find it. The usual rollout of a scaled-out deployment.
func TestConcurrentStartOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	var procs []*proc
	for range 3 {
		procs = append(procs, spawnSluice(t, t.TempDir(), []string{"--database", c.databaseURL("")}, c.env...))
	}
	for _, p := range procs {
		awaitListening(t, p, 60*time.Second)
	}
	c.requireMigratedSchema(t)
	for i, p := range procs {
		var list map[string]any
		if code := call(t, "GET", p.url+"/v1/destinations", c.token, nil, &list); code != http.StatusOK {
			t.Errorf("process %d: the admin token gets %d", i+1, code)
		}
	}
	var operators int
	if err := c.db.QueryRow(`SELECT count(*) FROM ` + c.schema + `.api_keys WHERE operator`).Scan(&operators); err != nil {
		t.Fatal(err)
	}
	if operators != 1 {
		t.Errorf("%d operator keys, want 1", operators)
	}
	for _, p := range procs {
		stopSluice(t, p)
	}
	requireNoErrors(t, procs)
}

// holdingFront is a loopback endpoint in front of a receiver that can hold
// requests. A held request whose sender dies meanwhile is dropped, never
// passed on: the receiver counts only what a live process delivered.
type holdingFront struct {
	srv *httptest.Server
	rcv *receiver

	mu        sync.Mutex
	release   chan struct{} // non-nil while holding; closed to let go
	held      int           // requests held so far
	abandoned int           // held requests whose sender went away
}

func newHoldingFront(t *testing.T, rcv *receiver) *holdingFront {
	f := &holdingFront{rcv: rcv}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.letGo) // before the server closes: it waits for handlers
	return f
}

func (f *holdingFront) serve(w http.ResponseWriter, req *http.Request) {
	// Reading the whole body makes the server watch the connection, so the
	// request's context ends if the sender dies while it is held.
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	release := f.release
	if release != nil {
		f.held++
	}
	f.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-req.Context().Done():
			f.mu.Lock()
			f.abandoned++
			f.mu.Unlock()
			return
		}
	}
	f.rcv.serve(w, req)
}

// hold makes the front hold requests until letGo.
func (f *holdingFront) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.release == nil {
		f.release = make(chan struct{})
	}
}

func (f *holdingFront) letGo() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.release != nil {
		close(f.release)
		f.release = nil
	}
}

func (f *holdingFront) counts() (held, abandoned int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held, f.abandoned
}

// A process killed with SIGKILL while publishing and delivery are in full
// swing loses nothing: the deliveries it had claimed and was attempting
// come due again when their leases end (5s) and the survivors deliver them.
// To be sure it dies with attempts in flight, the receiver's front holds
// every request for a moment and the process is killed while it has some
// held; those are dropped, so only a survivor can deliver their events.
// Duplicates are allowed: a process may die after sending, before
// recording.
func TestFailover(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	procs := startCluster(t, c, 3)
	rcv := newReceiver(t)
	front := newHoldingFront(t, rcv)
	c.createDestinationAt(t, procs[0], rcv, front.srv.URL)

	// perProcess is the most attempts one process makes to one destination
	// at once (deliver's default PerDestination): with more held than two
	// processes can have in flight, the victim has some.
	const events, publishers, flowing, perProcess = 2000, 16, 300, 16
	victim := procs[1]
	var (
		dead    atomic.Bool
		once    sync.Once
		acked   []string
		failed  int
		publish sync.WaitGroup
	)
	t.Cleanup(publish.Wait) // should the test end early, before the processes are killed
	started := make(chan struct{})
	rcv.mu.Lock()
	rcv.onArrive = func(n int) {
		if n >= flowing {
			once.Do(func() { close(started) })
		}
	}
	rcv.mu.Unlock()

	start := time.Now()
	publish.Go(func() {
		acked, failed = publishRoundRobin(c.token, events, publishers, func(i int) *proc {
			p := procs[i%len(procs)]
			if p == victim && dead.Load() {
				p = procs[(i+1)%len(procs)]
			}
			return p
		})
	})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatalf("deliveries never reached %d", flowing)
	}
	front.hold()
	testkit.WaitFor(t, 15*time.Second, func() bool {
		held, _ := front.counts()
		return held > 2*perProcess
	}, func() string { return "waiting for every process to have attempts in flight" })
	dead.Store(true) // publishers move on before the kill
	killedAt := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.wait(t)
	testkit.WaitFor(t, 10*time.Second, func() bool {
		_, abandoned := front.counts()
		return abandoned > 0
	}, func() string { return "waiting for the dead process's held attempts to be abandoned" })
	front.letGo()
	held, abandoned := front.counts()

	publish.Wait()
	publishedIn := time.Since(start)
	// Only publishes in flight to the victim when it died may fail.
	if failed > publishers {
		t.Errorf("%d publishes failed, want at most %d (those in flight at the kill)", failed, publishers)
	}
	if len(acked) < events-publishers {
		t.Fatalf("only %d of %d events acknowledged", len(acked), events)
	}
	if missing := rcv.waitFor(acked, 60*time.Second); missing > 0 {
		t.Fatalf("%d of %d acknowledged events never delivered after process 2 was killed", missing, len(acked))
	}
	dups, most := rcv.duplicates(acked)
	t.Logf("%d events acknowledged in %s (%d publishes failed); process 2 killed after %s with %d attempts abandoned (%d held in all); all delivered %s after the kill, %s in all; %d delivered more than once (at most %d times)",
		len(acked), publishedIn.Round(time.Millisecond), failed, killedAt.Sub(start).Round(time.Millisecond), abandoned, held,
		time.Since(killedAt).Round(time.Millisecond), time.Since(start).Round(time.Millisecond), dups, most)
	for _, p := range []*proc{procs[0], procs[2]} {
		stopSluice(t, p)
	}
}
