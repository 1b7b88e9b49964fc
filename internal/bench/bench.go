// Package bench is the load-test engine behind `sluice bench`: it drives a
// running Sluice over its HTTP API and measures publish throughput, the
// latency of the publish acknowledgement, and the end-to-end latency from
// publishing an event to its delivery at a loopback receiver.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Run. Zero values take the defaults named below.
type Options struct {
	URL          string        // Sluice base URL, e.g. http://127.0.0.1:8080; required
	Token        string        // admin token
	Events       int           // events to publish; default 10000
	Concurrency  int           // closed-loop publishers; default 64
	PayloadBytes int           // approximate size of each JSON payload; default 1024
	Timeout      time.Duration // how long to wait for all deliveries after publishing; default 2m
	ReceiverAddr string        // where the loopback receiver listens; default "127.0.0.1:0"
	Progress     io.Writer     // optional: a progress line about once a second
}

// Result is what a Run measured.
type Result struct {
	Published int // publish requests completed: Accepted + Errors
	Accepted  int // answered 2xx with an event id
	Errors    int // failed publish requests, by class in ErrorsByClass
	Delivered int // accepted events that reached the receiver
	// Duplicates counts repeated deliveries of an event (at-least-once
	// delivery allows them; receivers dedupe on webhook-id).
	Duplicates int

	PublishDuration time.Duration // first publish sent to last answered
	E2EDuration     time.Duration // first publish sent to last delivery arrived
	AcceptedPerSec  float64
	DeliveredPerSec float64

	AckLatency Percentiles // publish request sent to its 2xx read
	E2ELatency Percentiles // publish request sent to the event's first arrival

	// ErrorsByClass counts failed publishes: "http_<status>", "timeout",
	// "connect" or "other".
	ErrorsByClass map[string]int
}

// Run benchmarks the gateway at o.URL. It starts a loopback receiver,
// creates a destination for bench.* events pointing at it (the gateway must
// allow private destinations), publishes o.Events events from o.Concurrency
// publishers, waits up to o.Timeout for every accepted event to arrive, and
// deletes the destination again.
//
// It fails without a Result when the options are invalid, the receiver
// cannot listen, the destination cannot be created, or ctx ends. When some
// accepted events have not arrived by the timeout it returns the Result
// together with an error saying how many are missing.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	tr := newTracker(o.Events)
	rcv, err := startReceiver(o.ReceiverAddr, tr)
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	defer rcv.close()
	api := newAPIClient(o.URL, o.Token, o.Concurrency)
	defer api.close()

	dstID, err := api.createDestination(ctx, rcv.url())
	if err != nil {
		return nil, fmt.Errorf("create destination: %w", err)
	}
	defer func() {
		// Clean up even when ctx was cancelled, but not forever.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := api.deleteDestination(dctx, dstID); err != nil && o.Progress != nil {
			fmt.Fprintf(o.Progress, "could not delete bench destination %s: %v\n", dstID, err)
		}
	}()

	var c counters
	stopProgress := startProgress(o.Progress, time.Second, func() string {
		return fmt.Sprintf("published %d/%d  delivered %d  errors %d",
			c.published.Load(), o.Events, tr.delivered(), c.errors.Load())
	})
	pub := publishAll(ctx, api, o, tr, &c)
	if err := ctx.Err(); err != nil {
		stopProgress()
		return nil, err
	}
	waitErr := tr.waitDelivered(ctx, pub.accepted, o.Timeout)
	stopProgress()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := pub.result(tr)
	if errors.Is(waitErr, errWaitTimeout) {
		return res, fmt.Errorf("%d of %d accepted events not delivered within %s", res.Accepted-res.Delivered, res.Accepted, o.Timeout)
	}
	return res, waitErr
}

func (o Options) withDefaults() (Options, error) {
	u, err := url.Parse(o.URL)
	if o.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("URL %q: want the gateway's base URL, e.g. http://127.0.0.1:8080", o.URL)
	}
	if o.Events < 0 || o.Concurrency < 0 || o.PayloadBytes < 0 || o.Timeout < 0 {
		return o, errors.New("events, concurrency, payload bytes and timeout must not be negative")
	}
	o.Events = cmp.Or(o.Events, 10000)
	o.Concurrency = min(cmp.Or(o.Concurrency, 64), o.Events)
	o.PayloadBytes = cmp.Or(o.PayloadBytes, 1024)
	o.Timeout = cmp.Or(o.Timeout, 2*time.Minute)
	o.ReceiverAddr = cmp.Or(o.ReceiverAddr, "127.0.0.1:0")
	return o, nil
}

// counters are the live figures the progress line shows.
type counters struct {
	published atomic.Int64
	errors    atomic.Int64
}

// publishResult is what the publishers measured.
type publishResult struct {
	published, accepted int
	acks                []time.Duration
	errors              map[string]int
	start, end          time.Time
}

// publishAll runs o.Concurrency closed-loop publishers until o.Events
// events were sent or ctx ends.
func publishAll(ctx context.Context, api *apiClient, o Options, tr *tracker, c *counters) *publishResult {
	res := &publishResult{errors: map[string]int{}, acks: make([]time.Duration, 0, o.Events)}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex // guards res while the publishers merge into it
		seq atomic.Int64
	)
	filler := strings.Repeat("x", max(o.PayloadBytes-len(`{"seq":00000,"filler":""}`), 0))
	res.start = time.Now()
	for range o.Concurrency {
		wg.Go(func() {
			var acks []time.Duration
			errs := map[string]int{}
			for {
				n := seq.Add(1)
				if n > int64(o.Events) || ctx.Err() != nil {
					break
				}
				body := eventBody(n, filler)
				start := time.Now()
				id, class := api.publish(ctx, body)
				if ctx.Err() != nil {
					break // cancelled, not a gateway error
				}
				c.published.Add(1)
				if class != "" {
					c.errors.Add(1)
					errs[class]++
					continue
				}
				acks = append(acks, time.Since(start))
				tr.accept(id, start)
			}
			mu.Lock()
			defer mu.Unlock()
			res.acks = append(res.acks, acks...)
			res.accepted += len(acks)
			for k, v := range errs {
				res.errors[k] += v
				res.published += v
			}
			res.published += len(acks)
		})
	}
	wg.Wait()
	res.end = time.Now()
	return res
}

// eventBody is the publish request for event number n, its payload about
// len(filler) + 25 bytes of JSON.
func eventBody(n int64, filler string) []byte {
	b := make([]byte, 0, len(filler)+80)
	b = append(b, `{"type":"bench.event","payload":{"seq":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `,"filler":"`...)
	b = append(b, filler...)
	return append(b, `"}}`...)
}

// result combines the publishers' figures with the tracker's.
func (p *publishResult) result(tr *tracker) *Result {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := &Result{
		Published:       p.published,
		Accepted:        p.accepted,
		Errors:          p.published - p.accepted,
		Delivered:       tr.matched,
		Duplicates:      tr.duplicates,
		PublishDuration: p.end.Sub(p.start),
		AckLatency:      percentiles(p.acks),
		E2ELatency:      percentiles(tr.e2e),
		ErrorsByClass:   p.errors,
	}
	if r.Delivered > 0 {
		r.E2EDuration = tr.lastArrival.Sub(p.start)
	}
	r.AcceptedPerSec = perSecond(r.Accepted, r.PublishDuration)
	r.DeliveredPerSec = perSecond(r.Delivered, r.E2EDuration)
	return r
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// startProgress writes line() to w every interval until the returned stop
// is called; stop waits for the writer to finish. A nil w writes nothing.
func startProgress(w io.Writer, interval time.Duration, line func() string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintln(w, line())
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
