// Package bench is the load-test engine behind `sluice bench`: it drives a
// running Sluice over HTTP in one of three scenarios (publish, ingest, e2e),
// closed loop or open loop, and measures accepted events a second, the
// latency of the acknowledgement, and, where deliveries are awaited, the
// end-to-end latency from sending an event to its delivery at a loopback
// receiver. The same load first runs against a bare net/http handler, the
// baseline, and then against a forwarder that keeps nothing, the ceiling
// of any gateway on net/http: Sluice's figures are read against both.
package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"runtime/pprof"
	"strings"
	"time"
)

// Scenario names what a run sends and what it waits for.
type Scenario string

// The scenarios.
const (
	// ScenarioPublish posts events to POST /v1/events and measures their
	// acknowledgement only; deliveries happen but are not awaited.
	ScenarioPublish Scenario = "publish"
	// ScenarioIngest posts Stripe-signed webhooks to POST /in/{source_id}
	// and waits for their delivery, as a provider's traffic would flow.
	ScenarioIngest Scenario = "ingest"
	// ScenarioE2E posts events to POST /v1/events and waits until every
	// accepted event is delivered.
	ScenarioE2E Scenario = "e2e"
)

// awaitsDelivery reports whether the scenario waits for deliveries.
func (s Scenario) awaitsDelivery() bool { return s != ScenarioPublish }

// Defaults and limits of Options.
const (
	defaultEvents       = 10000
	defaultConcurrency  = 64
	defaultPayloadBytes = 1024
	defaultTimeout      = 2 * time.Minute

	// maxPayloadBytes is far above any gateway's body limit; beyond it the
	// bodies in flight would exhaust the bench's memory first.
	maxPayloadBytes = 16 << 20
	// defaultMaxInFlight bounds open-loop requests in flight: enough for a
	// slow gateway to show its latency, few enough for one process's
	// sockets and memory.
	defaultMaxInFlight = 4096
	// maxSchedule bounds an open-loop run; a longer one is surely a typo.
	maxSchedule = 24 * time.Hour
)

// Options configure a Run. Zero values take the defaults named below.
type Options struct {
	URL      string   // Sluice base URL, e.g. http://127.0.0.1:8080; required
	Token    string   // admin token
	Scenario Scenario // publish, ingest or e2e; default e2e

	Events int // events to send; default 10000
	// Concurrency is the number of closed-loop senders, each sending its
	// next event when the last is answered; default 64. Not with Rate.
	Concurrency int
	// Rate, when set, makes the load open loop: events start on a fixed
	// schedule of Rate a second, whatever the answers do.
	Rate float64
	// MaxInFlight bounds open-loop requests in flight; default 4096.
	MaxInFlight  int
	PayloadBytes int           // size of each JSON payload; default 1024
	Timeout      time.Duration // how long to wait for deliveries after sending; default 2m

	// SkipBaseline leaves out the run against the bare net/http handler.
	SkipBaseline bool
	// SkipForwarder leaves out the run against the forwarder that keeps
	// nothing, the ceiling Sluice is compared with.
	SkipForwarder bool
	// Gateway describes the gateway for the report, e.g. "in process,
	// embedded store"; default "remote". It must not hold credentials.
	Gateway string
	// InProcess says the gateway runs in this process, so the peak RSS
	// measured is the gateway's as well as the bench's.
	InProcess bool

	ReceiverAddr string    // where the loopback receiver listens; default "127.0.0.1:0"
	Progress     io.Writer // optional: a progress line about once a second
	// CPUProfile, when set, receives a pprof CPU profile of this process
	// taken while the load goes to Sluice (the baseline left out, and the
	// subjects phase, which has SubjectsCPUProfile).
	CPUProfile io.Writer

	// Subjects, when set, sends the load to the gateway a second time, after
	// the first, with an email address of its own in every payload: each
	// event names a new data subject, which gets a key of its own, the most
	// subject keys can cost. Report.Subjects holds what it measured.
	Subjects bool
	// SubjectPool, when positive, draws the subjects phase's addresses
	// from that many customers, as repeat business does; 0 gives every
	// event a subject never seen before, the most subject keys can cost.
	SubjectPool int
	// SubjectsCPUProfile, when set, receives a pprof CPU profile of this
	// process taken during the subjects phase, to compare with CPUProfile's.
	SubjectsCPUProfile io.Writer
}

// openLoop reports whether the load follows a schedule rather than the
// answers.
func (o *Options) openLoop() bool { return o.Rate > 0 }

// Run benchmarks the gateway at o.URL. It starts a loopback receiver and
// creates a destination for the run's own event type pointing at it (the
// gateway must allow private destinations) and, for the ingest scenario, a
// Stripe source.
// Unless o.SkipBaseline, it then sends the load to a bare net/http handler
// on loopback. Unless o.SkipForwarder, it sends the same load to a
// forwarder on loopback that keeps nothing and delivers to the same
// receiver, and waits for its deliveries as for the gateway's (in the
// publish scenario it lets them all arrive, unmeasured, so that none
// competes with the gateway's phase). Then it sends the same load to the
// gateway and, unless the scenario is publish, waits up to o.Timeout for
// every accepted event to arrive. The baseline and the forwarder go first,
// as the gateway's phase is the one whose deliveries may still be under way
// when it ends. With o.Subjects it then sends the load to the gateway again, an
// email address of its own in every payload, and waits as before. It
// deletes what it created before returning.
//
// It fails without a Report when the options are invalid, the receiver,
// the baseline or the forwarder cannot listen, the forwarder's deliveries
// do not all arrive in time, the destination or source cannot be created,
// or ctx ends. When some accepted events have not arrived by the timeout it
// returns the Report together with an error saying how many are missing;
// the subjects phase then does not run, if they were the first phase's.
func Run(ctx context.Context, o Options) (*Report, error) {
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
	gw, err := setUpGateway(ctx, o, rcv.url())
	if err != nil {
		return nil, err
	}
	defer gw.tearDown(ctx, o.Progress)

	rep := &Report{Options: o, RSSScope: rssScope(o.InProcess)}
	if !o.SkipBaseline {
		if rep.Baseline, err = runBaseline(ctx, o, gw.work); err != nil {
			return nil, err
		}
	}
	if !o.SkipForwarder {
		if rep.Forwarder, err = runForwarder(ctx, o, gw.work, rcv); err != nil {
			return nil, err
		}
		rcv.track(tr)
	}
	rep.Sluice, err = runGateway(ctx, o, "sluice", gw.api, gw.work, tr, o.CPUProfile)
	if rep.Sluice == nil {
		return nil, err
	}
	if err != nil || !o.Subjects {
		return rep, err
	}
	return runSubjects(ctx, rep, gw, rcv, tr)
}

// runSubjects sends the load to the gateway again, each payload naming a
// new data subject, with a fresh tracker, and adds what it measured to rep.
// first is the tracker of the phase before.
func runSubjects(ctx context.Context, rep *Report, gw *gateway, rcv *receiver, first *tracker) (*Report, error) {
	o := rep.Options
	if !o.Scenario.awaitsDelivery() {
		// The first phase's deliveries are still under way: the subjects
		// phase must not share the cores with them.
		if err := first.waitArrived(ctx, rep.Sluice.Accepted, o.Timeout); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return rep, fmt.Errorf("%d of %d accepted events not delivered within %s; the subjects phase did not run",
				rep.Sluice.Accepted-first.arrivals(), rep.Sluice.Accepted, o.Timeout)
		}
	}
	// Every run's addresses are new, even against a gateway that kept an
	// earlier run's subjects.
	rep.SubjectDomain = strings.ToLower(rand.Text()[:8]) + "." + subjectsParent
	tr := newTracker(o.Events)
	rcv.track(tr)
	var err error
	rep.Subjects, err = runGateway(ctx, o, "subjects", gw.api, gw.work.withSubjects(rep.SubjectDomain, o.SubjectPool), tr,
		o.SubjectsCPUProfile)
	if rep.Subjects == nil {
		return nil, err
	}
	if err != nil {
		err = fmt.Errorf("with subjects: %w", err)
	}
	return rep, err
}

// runGateway sends the load of work to a gateway, Sluice or the forwarder,
// through api and waits for its deliveries, tracked by tr, as the scenario
// asks. When profile is set it receives a CPU profile of the phase.
func runGateway(ctx context.Context, o Options, name string, api *client, work *workload, tr *tracker,
	profile io.Writer) (*Result, error) {
	if !o.Scenario.awaitsDelivery() {
		tr = nil
	}
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	p := newPhase(name, o, api, work, tr)
	stop := p.startProgress()
	begin, sched, err := p.drive(ctx)
	if err == nil && tr != nil {
		err = tr.waitDelivered(ctx, p.out.acceptedCount(), o.Timeout)
	}
	stop()
	if profile != nil {
		pprof.StopCPUProfile()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res := p.result(begin, sched)
	if errors.Is(err, errWaitTimeout) {
		d := res.Delivery
		return res, fmt.Errorf("%d of %d accepted events not delivered within %s", res.Accepted-d.Delivered, res.Accepted, o.Timeout)
	}
	return res, err
}

// runBaseline sends the load, the same requests as to the gateway, to a
// bare handler on loopback.
func runBaseline(ctx context.Context, o Options, work *workload) (*Result, error) {
	b, err := startBaseline()
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	defer b.close()
	c := newClient(b.url(), "", o.connections())
	defer c.close()
	p := newPhase("baseline", o, c, work, nil)
	stop := p.startProgress()
	begin, sched, err := p.drive(ctx)
	stop()
	if err != nil {
		return nil, err
	}
	return p.result(begin, sched), nil
}

// runForwarder sends the load, the same requests as to the gateway, to a
// forwarder on loopback that delivers to rcv, which it hands a tracker of
// its own, and waits for the deliveries as the gateway's are waited for. In
// the publish scenario it then lets them all arrive, unmeasured.
func runForwarder(ctx context.Context, o Options, work *workload, rcv *receiver) (*Result, error) {
	fw, err := startForwarder(forwarderWorkers, rcv.url())
	if err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	defer fw.close()
	tr := newTracker(o.Events)
	rcv.track(tr)
	c := newClient(fw.url(), o.Token, o.connections())
	defer c.close()
	res, err := runGateway(ctx, o, "forwarder", c, work, tr, nil)
	if err == nil && !o.Scenario.awaitsDelivery() {
		if err = tr.waitArrived(ctx, res.Accepted, o.Timeout); errors.Is(err, errWaitTimeout) {
			err = fmt.Errorf("%d of %d accepted events not delivered within %s",
				res.Accepted-tr.arrivals(), res.Accepted, o.Timeout)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	return res, nil
}

func (o Options) withDefaults() (Options, error) {
	u, err := url.Parse(o.URL)
	if o.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("URL %q: want the gateway's base URL, e.g. http://127.0.0.1:8080", o.URL)
	}
	if err := o.CheckLoad(); err != nil {
		return o, err
	}
	o.Scenario = cmp.Or(o.Scenario, ScenarioE2E)
	o.Events = cmp.Or(o.Events, defaultEvents)
	if !o.openLoop() {
		o.Concurrency = min(cmp.Or(o.Concurrency, defaultConcurrency), o.Events)
		o.MaxInFlight = 0
	} else {
		o.MaxInFlight = cmp.Or(o.MaxInFlight, defaultMaxInFlight)
	}
	o.PayloadBytes = cmp.Or(o.PayloadBytes, defaultPayloadBytes)
	o.Timeout = cmp.Or(o.Timeout, defaultTimeout)
	o.Gateway = cmp.Or(o.Gateway, "remote")
	o.ReceiverAddr = cmp.Or(o.ReceiverAddr, "127.0.0.1:0")
	return o, nil
}

// CheckLoad reports what is wrong with the options other than the URL, as
// Run would, so that a caller can check them before it starts the gateway
// it will point them at.
func (o Options) CheckLoad() error {
	switch o.Scenario {
	case "", ScenarioPublish, ScenarioIngest, ScenarioE2E:
	default:
		return fmt.Errorf("scenario %q: want publish, ingest or e2e", o.Scenario)
	}
	if o.Events < 0 || o.Concurrency < 0 || o.PayloadBytes < 0 || o.Timeout < 0 || o.MaxInFlight < 0 {
		return errors.New("events, concurrency, max in flight, payload bytes and timeout must not be negative")
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return errors.New("rate must be a positive number of events a second")
	}
	if o.Rate > 0 && o.Concurrency > 0 {
		return errors.New("choose concurrency (closed loop) or rate (open loop), not both")
	}
	if o.Rate > 0 && float64(cmp.Or(o.Events, defaultEvents))/o.Rate > maxSchedule.Seconds() {
		return fmt.Errorf("events at this rate would take longer than %s", maxSchedule)
	}
	if o.PayloadBytes > maxPayloadBytes {
		return fmt.Errorf("payload bytes must be at most %d", maxPayloadBytes)
	}
	if o.SubjectPool < 0 {
		return errors.New("the subject pool must not be negative")
	}
	if o.SubjectsCPUProfile != nil && !o.Subjects {
		return errors.New("a CPU profile of the subjects phase needs the subjects phase")
	}
	return nil
}

// connections is how many connections the load may keep open: one per
// request that can be in flight, so none is closed and redialled.
func (o *Options) connections() int {
	if o.openLoop() {
		return o.MaxInFlight
	}
	return o.Concurrency
}
