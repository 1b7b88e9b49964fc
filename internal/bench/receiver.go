package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// tracker matches the events the gateway accepted with the deliveries the
// receiver got. Either may come first: a fast gateway can deliver an event
// before its publish request has returned.
type tracker struct {
	mu          sync.Mutex
	arrived     map[string]time.Time // first arrival of every webhook-id seen
	sent        map[string]time.Time // send start of every accepted event
	e2e         []time.Duration      // arrival - send start, per matched event
	matched     int                  // accepted events that arrived
	lastArrival time.Time            // latest first arrival of a matched event
	duplicates  int                  // arrivals of an id that had arrived before

	// notify wakes the one waiter after each match or new arrival; its
	// buffer of one means neither is lost and arrivals never block.
	notify chan struct{}
}

func newTracker(events int) *tracker {
	return &tracker{
		arrived: make(map[string]time.Time, events),
		sent:    make(map[string]time.Time, events),
		e2e:     make([]time.Duration, 0, events),
		notify:  make(chan struct{}, 1),
	}
}

// arrive records a delivery of event id at time at.
func (t *tracker) arrive(id string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.arrived[id]; seen {
		t.duplicates++
		return
	}
	t.arrived[id] = at
	if start, ok := t.sent[id]; ok {
		t.match(start, at)
	} else {
		t.wake() // a waiter may count arrivals alone
	}
}

// accept records that the gateway accepted event id, sent at start.
func (t *tracker) accept(id string, start time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.sent[id]; seen {
		return
	}
	t.sent[id] = start
	if at, ok := t.arrived[id]; ok {
		t.match(start, at)
	}
}

// match is called with t.mu held.
func (t *tracker) match(start, at time.Time) {
	t.e2e = append(t.e2e, at.Sub(start))
	t.matched++
	if at.After(t.lastArrival) {
		t.lastArrival = at
	}
	t.wake()
}

// wake tells the waiter, if any, that the counts moved.
func (t *tracker) wake() {
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

func (t *tracker) delivered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.matched
}

// delivery is what the tracker measured of events sent from begin on.
func (t *tracker) delivery(begin time.Time) *Delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := &Delivery{Delivered: t.matched, Duplicates: t.duplicates, Latency: percentiles(t.e2e)}
	for id := range t.arrived {
		if _, ok := t.sent[id]; !ok {
			d.Strays++
		}
	}
	if t.matched > 0 {
		d.Duration = t.lastArrival.Sub(begin)
	}
	d.PerSec = perSecond(d.Delivered, d.Duration)
	return d
}

var errWaitTimeout = errors.New("timed out waiting for deliveries")

// arrivals counts the distinct events that arrived, accepted or not.
func (t *tracker) arrivals() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.arrived)
}

// waitDelivered blocks until want accepted events have arrived, the timeout
// passes (errWaitTimeout) or ctx ends.
func (t *tracker) waitDelivered(ctx context.Context, want int, timeout time.Duration) error {
	return t.waitFor(ctx, func() bool { return t.delivered() >= want }, timeout)
}

// waitArrived blocks until want distinct events have arrived, whether or
// not their acceptance was recorded, the timeout passes (errWaitTimeout) or
// ctx ends.
func (t *tracker) waitArrived(ctx context.Context, want int, timeout time.Duration) error {
	return t.waitFor(ctx, func() bool { return t.arrivals() >= want }, timeout)
}

// waitFor blocks until done reports true, checking it after every match
// and new arrival.
func (t *tracker) waitFor(ctx context.Context, done func() bool, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !done() {
		select {
		case <-t.notify:
		case <-timer.C:
			return errWaitTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// receiver is the loopback webhook endpoint the bench destination points at.
type receiver struct {
	ln  net.Listener
	srv *http.Server
	// tr is the tracker of the phase under way, which every arrival goes
	// to; each phase that sends to the gateway gets a fresh one, so that
	// its counts and latencies are its own.
	tr atomic.Pointer[tracker]
}

// startReceiver listens on addr and hands every arrival to t until track
// names another tracker.
func startReceiver(addr string, t *tracker) (*receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &receiver{ln: ln}
	rc.tr.Store(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		// Drain the body so the gateway's connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		id := r.Header.Get("webhook-id")
		if id == "" {
			http.Error(w, "missing webhook-id", http.StatusBadRequest)
			return
		}
		rc.tr.Load().arrive(id, at)
		w.WriteHeader(http.StatusOK)
	})
	rc.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

// track hands the arrivals from now on to t. An arrival being handled as
// it is called may still go to the tracker before.
func (rc *receiver) track(t *tracker) { rc.tr.Store(t) }

// url is the destination URL to register with the gateway.
func (rc *receiver) url() string { return "http://" + rc.ln.Addr().String() + "/hook" }

// close stops the receiver at once. Run deletes the destination first, so
// nothing still owed to the receiver is lost; a graceful Shutdown would
// instead wait seconds for connections the gateway opened but never used.
func (rc *receiver) close() { _ = rc.srv.Close() }
