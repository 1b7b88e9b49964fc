package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// phase is one measured run of the load against one server: the baseline,
// the forwarder or the gateway.
type phase struct {
	name string // "baseline", "forwarder", "sluice" or "subjects", for the progress line
	o    Options
	c    *client
	work *workload
	tr   *tracker // nil: deliveries are not matched
	out  outcomes
	cpu  time.Duration // processCPU when the load began
}

func newPhase(name string, o Options, c *client, work *workload, tr *tracker) *phase {
	return &phase{name: name, o: o, c: c, work: work, tr: tr, out: outcomes{errors: map[string]int{}}}
}

// drive sends o.Events events, closed or open loop, and returns when every
// one is answered, or ctx's error when it ends first. It returns when the
// load began, and for an open loop how it kept to its schedule.
func (p *phase) drive(ctx context.Context) (begin time.Time, sched *Schedule, err error) {
	resetPeakRSS()
	p.cpu = processCPU()
	if p.o.openLoop() {
		begin, sched = (&openLoop{rate: p.o.Rate, events: p.o.Events, maxInFlight: p.o.MaxInFlight}).run(ctx, p.send)
	} else {
		begin = time.Now()
		closedLoop(ctx, p.o.Concurrency, p.o.Events, p.send)
	}
	return begin, sched, ctx.Err()
}

// send is the sendFunc of the phase.
func (p *phase) send(ctx context.Context, n int64, start time.Time) {
	var id, class string
	body, header, err := p.work.request(n, time.Now())
	if err != nil {
		class = "sign"
	} else {
		id, class = p.c.send(ctx, p.work.path, header, body)
	}
	if ctx.Err() != nil {
		return // cancelled: not the server's failure
	}
	p.out.record(class, start, time.Now())
	if class == "" && p.tr != nil {
		p.tr.accept(id, start)
	}
}

// progressLine is the live state of the phase.
func (p *phase) progressLine() string {
	line := fmt.Sprintf("%-9s  sent %d/%d  accepted %d  errors %d", p.name,
		p.out.sent.Load(), p.o.Events, p.out.sent.Load()-p.out.failed.Load(), p.out.failed.Load())
	if p.tr != nil {
		line += fmt.Sprintf("  delivered %d", p.tr.delivered())
	}
	return line
}

// startProgress writes the progress line about once a second until stop.
func (p *phase) startProgress() (stop func()) {
	return startProgress(p.o.Progress, time.Second, p.progressLine)
}

// result is what the phase measured; begin is when its load began.
func (p *phase) result(begin time.Time, sched *Schedule) *Result {
	out := &p.out
	out.mu.Lock()
	defer out.mu.Unlock()
	errs := 0
	for _, n := range out.errors {
		errs += n
	}
	r := &Result{
		Sent:          len(out.acks) + errs,
		Accepted:      len(out.acks),
		Errors:        errs,
		ErrorsByClass: maps.Clone(out.errors),
		AckLatency:    percentiles(out.acks),
		Schedule:      sched,
		PeakRSS:       peakRSS(),
	}
	if p.cpu > 0 {
		r.CPU = processCPU() - p.cpu
	}
	if !out.lastAnswer.IsZero() {
		r.Duration = out.lastAnswer.Sub(begin)
	}
	r.AcceptedPerSec = perSecond(r.Accepted, r.Duration)
	if p.tr != nil {
		r.Delivery = p.tr.delivery(begin)
	}
	return r
}

// outcomes collects the answers of a phase from every sender at once.
type outcomes struct {
	sent, failed atomic.Int64 // live, for the progress line

	mu         sync.Mutex
	acks       []time.Duration // latency of each accepted event
	errors     map[string]int  // failed requests by class
	lastAnswer time.Time
}

// record notes an answer at end to a request started at start; class is
// empty when the event was accepted.
func (o *outcomes) record(class string, start, end time.Time) {
	o.sent.Add(1)
	if class != "" {
		o.failed.Add(1)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if class == "" {
		o.acks = append(o.acks, end.Sub(start))
	} else {
		o.errors[class]++
	}
	if end.After(o.lastAnswer) {
		o.lastAnswer = end
	}
}

func (o *outcomes) acceptedCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.acks)
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
