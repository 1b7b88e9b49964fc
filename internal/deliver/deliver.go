// Package deliver is the dispatcher: it claims due deliveries from the store,
// POSTs each to its destination signed the Standard Webhooks way, records
// every attempt, and schedules retries.
//
// Concurrency is bounded three times: Workers attempts in all,
// PerDestination attempts to any one destination, so a slow or hanging
// destination holds at most PerDestination workers and the others keep
// flowing, and PerTenant attempts of any one tenant, so a tenant whose
// destinations all hang leaves Workers - PerTenant workers to the other
// tenants. A destination's rate limit and circuit breaker are kept by the
// store, across processes: the deliveries they hold back are never claimed,
// so they take no worker.
//
// Claims beyond the free workers wait in per-destination queues, so a
// finishing worker starts its destination's next delivery at once; the
// deliveries of new events arrive already claimed (OfferRequest). What is
// claimed, from the store or at birth, keeps to each destination's and each
// tenant's room, so one tenant's backlog cannot fill the queues either.
// Successes are recorded in the background, failures before the worker
// moves on.
//
// Recording an attempt also moves its destination's health (the circuit
// breaker) and publishes the operational events it calls for: the store
// does both, in the attempt's transaction.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/thin"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout      = 15 * time.Second
	DefaultLease        = 30 * time.Second
	DefaultWorkers      = 64
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultPerTenant is PerTenant's default with the default Workers and
	// PerDestination: all the workers but one destination's share.
	DefaultPerTenant = DefaultWorkers - DefaultWorkers/4
)

// storeTimeout bounds each store call. Store calls do not stop with the
// dispatcher's context: a claim or an attempt that already happened must
// still be recorded during shutdown.
const storeTimeout = 30 * time.Second

// Store is where the dispatcher claims deliveries and records attempts;
// sluice.Store implements it.
type Store interface {
	// ClaimDue leases due deliveries (see sluice.Store).
	ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error)
	// RecordAttempts records attempts in one transaction (see sluice.Store).
	RecordAttempts(ctx context.Context, rs []*sluice.AttemptResult) []sluice.AttemptRecorded
	// ReturnClaims gives back claims never attempted.
	ReturnClaims(ctx context.Context, deliveryIDs []string) error
}

// Config configures a Dispatcher. New fills in the defaults.
type Config struct {
	// Store is where deliveries are claimed and attempts recorded. Required.
	Store Store
	// Logger receives ids, outcomes, status codes and durations only.
	// Default slog.Default().
	Logger *slog.Logger
	// RetrySchedule is the delay before each attempt; its length is the
	// attempt limit. Required, non-empty, no negative delays.
	RetrySchedule []time.Duration
	// Timeout bounds one attempt, from dialing to reading the response.
	// Default DefaultTimeout.
	Timeout time.Duration
	// Lease is how long a claimed delivery stays claimed. It must exceed
	// Timeout so an attempt is recorded before its lease ends. Default
	// DefaultLease.
	Lease time.Duration
	// Workers is how many attempts run at once. Default DefaultWorkers.
	Workers int
	// PerDestination is how many attempts to one destination run at once.
	// Default max(1, Workers/4).
	PerDestination int
	// PerTenant is how many attempts of one tenant's deliveries, to all its
	// destinations together, run at once: a tenant whose destinations are
	// slow or hang holds at most PerTenant workers, and the other tenants'
	// deliveries start in the rest. Default Workers - PerDestination, so
	// that the others keep one destination's full share, but more than
	// PerDestination, so that one hanging destination never holds up the
	// rest of its own tenant; at most Workers. A lower figure keeps more
	// for the other tenants, at the cost of a tenant alone on the
	// dispatcher; Workers keeps nothing for them.
	PerTenant int
	// PollInterval is how often to look for due work when nothing wakes the
	// dispatcher. Default DefaultPollInterval.
	PollInterval time.Duration
	// Policy is the SSRF guard of the default client: which addresses
	// deliveries may connect to, checked on the address actually dialed.
	// The zero Policy refuses loopback, private, link-local, metadata and
	// the other non-public ranges. It does not apply to a given Client.
	Policy safehttp.Policy
	// Client sends the deliveries. Default: a client with keep-alive pools,
	// no proxy, TLS 1.2 or later and a dialer enforcing Policy. Redirects
	// are never followed, whatever the given client's CheckRedirect says.
	// A destination with a client certificate gets a clone of its
	// transport presenting the certificate, with a pool of its own; a
	// given Client whose Transport is not an *http.Transport cannot
	// present one, and such deliveries fail as ErrClassTLS.
	Client *http.Client
	// Fetch makes the thin events of thin destinations: the gateway's
	// base URL and the fetch key. Without it their attempts fail as
	// ErrClassSigning.
	Fetch thin.Issuer
	// Metrics, when set, counts recorded attempts and ended deliveries.
	Metrics *metrics.Metrics
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// withDefaults validates c and returns a copy with the defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, errors.New("deliver: Config.Store is required")
	}
	if len(c.RetrySchedule) == 0 {
		return c, errors.New("deliver: Config.RetrySchedule must not be empty")
	}
	if slices.ContainsFunc(c.RetrySchedule, func(d time.Duration) bool { return d < 0 }) {
		return c, errors.New("deliver: Config.RetrySchedule has a negative delay")
	}
	if c.Timeout < 0 || c.Lease < 0 || c.Workers < 0 || c.PerDestination < 0 || c.PerTenant < 0 || c.PollInterval < 0 {
		return c, errors.New("deliver: Config has a negative Timeout, Lease, Workers, PerDestination, PerTenant or PollInterval")
	}
	c.RetrySchedule = slices.Clone(c.RetrySchedule)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Lease <= c.Timeout {
		return c, fmt.Errorf("deliver: Config.Lease (%s) must exceed Config.Timeout (%s)", c.Lease, c.Timeout)
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.PerDestination == 0 {
		c.PerDestination = max(1, c.Workers/4)
	}
	c.PerDestination = min(c.PerDestination, c.Workers)
	if c.PerTenant == 0 {
		c.PerTenant = max(c.PerDestination+1, c.Workers-c.PerDestination)
	}
	c.PerTenant = min(c.PerTenant, c.Workers)
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Client == nil {
		c.Client = newClient(c.Timeout, c.PerDestination, c.Policy)
	} else {
		client := *c.Client
		client.CheckRedirect = noRedirects
		c.Client = &client
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Dispatcher claims due deliveries and attempts them. Create it with New,
// run it with Start, end it with Stop.
type Dispatcher struct {
	cfg    Config
	store  Store
	logger *slog.Logger
	now    func() time.Time
	certs  *certClients // the clients of destinations with a client certificate

	wake chan struct{} // buffered 1: a pending wake-up for the claim loop
	// maybeDue says whether the store may hold due work this dispatcher
	// could claim: set by Wake and by claims given back, and by a claim
	// that had to leave some behind; cleared as a claim starts (see
	// wakeForRoom).
	maybeDue atomic.Bool

	mu        sync.Mutex
	started   bool
	stopping  chan struct{}            // closed by Stop: claim no more
	loopDone  chan struct{}            // closed when the claim loop has returned
	running   int                      // attempts in flight
	perDest   map[string]int           // attempts in flight by destination id
	perTenant map[string]int           // attempts in flight by tenant id
	queued    map[string][]queuedClaim // claims waiting for a worker, by destination id
	nQueued   int                      // claims in queued
	tenantQ   map[string]int           // claims in queued by tenant id
	queuedLen int                      // bytes of the bodies in queued
	recording int                      // attempts made and not yet recorded
	successes []recording              // successful attempts waiting for recordSuccesses
	recorders int                      // recordSuccesses goroutines running
	timer     *time.Timer              // fires at wakes[0]
	wakes     []time.Time              // when to look for work before the next poll, earliest first (wakeAt)
	// failing counts the failed attempts being recorded, by destination.
	// failSeq counts the starts and ends of those recordings, and lastFail
	// holds each destination's latest, so a claim can tell whether one
	// overlapped it (failedSince). lastFail is emptied when it grows past
	// maxLastFail, at failSeq forgotten.
	failing   map[string]int
	failSeq   uint64
	lastFail  map[string]uint64
	forgotten uint64

	workers sync.WaitGroup
}

// New validates cfg, fills in its defaults and returns a Dispatcher that is
// not yet running. The error names the offending field.
func New(cfg Config) (*Dispatcher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg:       cfg,
		store:     cfg.Store,
		logger:    cfg.Logger,
		now:       cfg.Now,
		certs:     newCertClients(cfg.Client, cfg.Now),
		wake:      make(chan struct{}, 1),
		stopping:  make(chan struct{}),
		loopDone:  make(chan struct{}),
		perDest:   make(map[string]int),
		perTenant: make(map[string]int),
		tenantQ:   make(map[string]int),
		failing:   make(map[string]int),
		lastFail:  make(map[string]uint64),
		queued:    make(map[string][]queuedClaim),
	}
	d.maybeDue.Store(true)
	return d, nil
}

// Start runs the claim loop in the background until Stop is called or ctx
// ends. It looks for due work at once. Attempts already in flight are not
// cut short when ctx ends; Stop waits for them. A Dispatcher runs once:
// Start after Start or Stop is an error.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return errors.New("deliver: dispatcher already started")
	}
	select {
	case <-d.stopping:
		return errors.New("deliver: dispatcher stopped")
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start dispatcher: %w", err)
	}
	d.started = true
	go d.claimLoop(ctx)
	return nil
}

// Stop stops claiming, waits for the attempts in flight to finish and be
// recorded (each is bounded by Config.Timeout), and returns. It is safe to
// call more than once, and before Start. Claims still queued for a worker
// are not attempted: they are given back to the store, due at once.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	started := d.started
	select {
	case <-d.stopping:
	default:
		close(d.stopping)
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	if !started {
		return
	}
	<-d.loopDone
	d.workers.Wait()
	d.returnQueued("")
	d.certs.closeAll()
}

// Wake tells the dispatcher that work may be due now, such as a delivery
// just stored with no first delay. It never blocks.
func (d *Dispatcher) Wake() {
	d.maybeDue.Store(true)
	d.signal()
}

// wakeForRoom wakes the claim loop for room that has come free, such as a
// worker's, only if the store may hold due work: under load nearly every
// delivery is created claimed (sluice.ClaimedAtBirth), and a claim after
// every attempt, finding nothing, was a tenth of the PostgreSQL store's
// transactions and the embedded store's writer's time spent for nothing.
func (d *Dispatcher) wakeForRoom() {
	if d.maybeDue.Load() {
		d.signal()
	}
}

// signal wakes the claim loop.
func (d *Dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
