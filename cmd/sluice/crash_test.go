package main_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
)

// receiver is a loopback webhook endpoint that verifies every delivery with
// the Standard Webhooks library and records the event ids it got.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	verify *standardwebhooks.Webhook

	mu       sync.Mutex
	got      map[string]int // webhook-id → deliveries
	changed  chan struct{}  // closed and replaced on every delivery
	onArrive func(n int)    // called with the count of distinct ids so far, outside mu
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, got: make(map[string]int), changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	v := r.verify
	r.mu.Unlock()
	if v == nil || v.Verify(body, req.Header) != nil {
		r.t.Errorf("delivery %s does not verify", req.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got[req.Header.Get("webhook-id")]++
	n := len(r.got)
	close(r.changed)
	r.changed = make(chan struct{})
	hook := r.onArrive
	r.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setSecret(secret string) {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.verify = v
	r.mu.Unlock()
}

// waitFor waits until every id has arrived at least once.
func (r *receiver) waitFor(ids []string, timeout time.Duration) (missing int) {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		missing = 0
		for _, id := range ids {
			if r.got[id] == 0 {
				missing++
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if missing == 0 {
			return 0
		}
		select {
		case <-changed:
		case <-deadline:
			return missing
		}
	}
}

// Every event acknowledged before a kill -9 reaches the receiver after a
// restart on the same data directory.
func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := sluice.NewToken()
	env := []string{"SLUICE_ADMIN_TOKEN=" + token, "SLUICE_RETRY_SCHEDULE=0s,200ms,200ms,500ms,1s,1s,1s,1s",
		"SLUICE_DELIVERY_LEASE=2s", "SLUICE_DELIVERY_TIMEOUT=1s"}
	p := startSluice(t, dir, env...)
	rcv := newReceiver(t)

	var dest struct{ Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{
		"name": "crash", "url": rcv.srv.URL + "/hook"}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	rcv.setSecret(dest.Secret)
	// A second destination, limited to 100 deliveries a second, holds a
	// backlog of acknowledged events at the kill; the first sends most of
	// its deliveries the moment they are stored (created claimed).
	slow := newReceiver(t)
	var slowDest struct{ Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{
		"name": "crash-slow", "url": slow.srv.URL + "/hook", "rate_limit_per_second": 100}, &slowDest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	slow.setSecret(slowDest.Secret)

	// Kill the process while publishers run and deliveries flow: once
	// killAfter events are acknowledged and at least one was delivered. A
	// new event's delivery may arrive before its acknowledgement does, so
	// the trigger counts acknowledgements.
	const killAfter = 100
	killed := make(chan struct{})
	var (
		once      sync.Once
		delivered atomic.Int64
	)
	rcv.mu.Lock()
	rcv.onArrive = func(n int) { delivered.Store(int64(n)) }
	rcv.mu.Unlock()

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				var res struct{ ID string }
				code := callQuiet(p.url+"/v1/events", token, map[string]any{
					"type": "crash.test", "payload": map[string]any{"worker": w, "i": i}}, &res)
				if code == http.StatusAccepted {
					mu.Lock()
					acked = append(acked, res.ID)
					n := len(acked)
					mu.Unlock()
					if n >= killAfter && delivered.Load() > 0 {
						once.Do(func() {
							p.cmd.Process.Signal(syscall.SIGKILL)
							close(killed)
						})
					}
				}
				if code == 0 { // connection refused: the process is gone
					return
				}
			}
		})
	}
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatalf("never had %d events acknowledged with deliveries flowing", killAfter)
	}
	wg.Wait()
	p.wait(t)
	slow.mu.Lock()
	backlog := len(acked) - len(slow.got)
	slow.mu.Unlock()
	t.Logf("killed with %d events acknowledged, %d delivered to the first destination, %d owed to the rate-limited one",
		len(acked), delivered.Load(), backlog)
	if backlog <= 0 {
		t.Fatal("no acknowledged event was still owed at the kill: the test proves nothing")
	}

	rcv.mu.Lock()
	rcv.onArrive = nil
	rcv.mu.Unlock()
	p = startSluice(t, dir, env...)
	for name, r := range map[string]*receiver{"first": rcv, "rate-limited": slow} {
		if missing := r.waitFor(acked, 60*time.Second); missing > 0 {
			t.Fatalf("%d of %d acknowledged events never delivered to the %s destination after restart", missing, len(acked), name)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

// callQuiet posts JSON and returns the status, or 0 when the request could
// not be made (the server is gone).
func callQuiet(url, token string, body, out any) int {
	return callNoFail(http.MethodPost, url, token, body, out)
}

// SIGTERM lets an attempt in flight finish and record before exiting 0.
func TestGracefulShutdownDrains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := sluice.NewToken()
	env := []string{"SLUICE_ADMIN_TOKEN=" + token}
	p := startSluice(t, dir, env...)

	inFlight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(inFlight) })
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "slow", "url": slow.URL}, nil); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	var ev struct{ ID string }
	if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "a.b", "payload": 1}, &ev); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	select {
	case <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("delivery never started")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	close(release)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.log())
	}

	p = startSluice(t, dir, env...)
	var deliveries struct {
		Data []struct {
			Status   string
			Attempts int
		}
	}
	call(t, "GET", p.url+"/v1/events/"+ev.ID+"/deliveries", token, nil, &deliveries)
	if len(deliveries.Data) != 1 || deliveries.Data[0].Status != "succeeded" || deliveries.Data[0].Attempts != 1 {
		t.Fatalf("after a drained shutdown deliveries = %+v, want one succeeded after 1 attempt", deliveries.Data)
	}
}
