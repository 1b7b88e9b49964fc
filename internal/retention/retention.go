// Package retention enforces the retention windows: every interval it
// purges payloads past their expiry, leaving their metadata, deletes event
// metadata past its tenant's metadata retention and audit entries, erasure
// records and observations past its audit retention, then scrubs what it
// deleted from the store's files.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Store is what the service purges through; sluice.Store implements it.
type Store interface {
	PurgeExpiredPayloads(ctx context.Context, now time.Time, limit int) (int, error)
	PurgeMetadata(ctx context.Context, now time.Time, limit int) (int, error)
	PurgeAudit(ctx context.Context, now time.Time, limit int) (int, error)
	Scrub(ctx context.Context) error
}

// Defaults for the zero values of Config.
const (
	DefaultInterval  = time.Minute
	DefaultBatchSize = 500
	// maxBatchesPerPass bounds one pass, so a large backlog is worked off
	// over several intervals instead of holding the writer for long.
	maxBatchesPerPass = 100
)

// Config configures a Service. New fills in the defaults.
type Config struct {
	// Store is purged. Required.
	Store Store
	// Interval is how often a pass runs. Default DefaultInterval. The
	// windows themselves are the store's (per tenant).
	Interval time.Duration
	// BatchSize bounds each purge call. Default DefaultBatchSize.
	BatchSize int
	// Logger receives counts and durations. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnPass, when set, is called after every pass: a signal tests wait on.
	OnPass func(Pass)
	// AfterPurge, when set, runs in every pass after the purges and
	// before the scrub, in the same exclusive run: other upkeep whose
	// deletions the scrub is to remove from the files too, such as
	// retiring old data keys. Its error is the pass's.
	AfterPurge func(ctx context.Context) error
	// Exclusive, when set, runs each pass only if no other process is
	// running one (a store shared by several processes provides it); a
	// pass that does not get to run reports Skipped.
	Exclusive func(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error)
}

// Pass is what one pass purged.
type Pass struct {
	Payloads int  // payloads deleted past their expiry
	Events   int  // events deleted past the metadata retention
	Audit    int  // audit entries, erasure records and observations deleted
	Skipped  bool // another process was running a pass
	Err      error
}

// Service runs retention passes. Create it with New, run it with Start,
// end it with Stop.
type Service struct {
	cfg  Config
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
}

// New validates cfg and fills in its defaults.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("retention: Config.Store is required")
	}
	if cfg.Interval < 0 || cfg.BatchSize < 0 {
		return nil, errors.New("retention: Config has a negative Interval or BatchSize")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start runs a pass at once and then every interval, until Stop or ctx
// ends. A Service runs once: Start after Start or Stop is an error.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.started:
		return errors.New("retention: already started")
	case s.stopped:
		return errors.New("retention: stopped")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.started = true
	go s.loop(ctx)
	return nil
}

// Stop ends the service and waits for a pass in progress to finish. It is
// safe to call more than once, and before Start.
func (s *Service) Stop() {
	s.mu.Lock()
	started := s.started
	if !s.stopped {
		s.stopped = true
		close(s.stop)
	}
	s.mu.Unlock()
	if started {
		<-s.done
	}
}

func (s *Service) loop(ctx context.Context) {
	defer close(s.done)
	ticker := time.NewTicker(s.cfg.Interval)
	defer ticker.Stop()
	for {
		p := s.RunPass(ctx)
		if s.cfg.OnPass != nil {
			s.cfg.OnPass(p)
		}
		select {
		case <-ticker.C:
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// exclusiveName names the retention pass among the work that processes
// sharing a store take turns at.
const exclusiveName = "sluice.retention"

// RunPass purges what is due now, in batches, and reports what it did.
func (s *Service) RunPass(ctx context.Context) Pass {
	if s.cfg.Exclusive == nil {
		return s.purge(ctx)
	}
	var p Pass
	ran, err := s.cfg.Exclusive(ctx, exclusiveName, func(ctx context.Context) error {
		p = s.purge(ctx)
		return nil
	})
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "retention pass failed", slog.Any("error", err))
		return Pass{Err: err}
	}
	p.Skipped = !ran
	return p
}

// purge runs one pass.
func (s *Service) purge(ctx context.Context) Pass {
	start := s.cfg.Now()
	var p Pass
	p.Payloads, p.Err = s.drain(func(limit int) (int, error) {
		return s.cfg.Store.PurgeExpiredPayloads(ctx, s.cfg.Now(), limit)
	})
	if p.Err == nil {
		p.Events, p.Err = s.drain(func(limit int) (int, error) {
			return s.cfg.Store.PurgeMetadata(ctx, s.cfg.Now(), limit)
		})
	}
	if p.Err == nil {
		p.Audit, p.Err = s.drain(func(limit int) (int, error) {
			return s.cfg.Store.PurgeAudit(ctx, s.cfg.Now(), limit)
		})
	}
	if s.cfg.AfterPurge != nil {
		if err := s.cfg.AfterPurge(ctx); err != nil {
			p.Err = errors.Join(p.Err, err)
		}
	}
	// What the pass deleted (and what erasures deleted without a
	// successful scrub) is removed from the store's files too.
	if err := s.cfg.Store.Scrub(ctx); err != nil {
		p.Err = errors.Join(p.Err, err)
	}
	switch {
	case p.Err != nil:
		s.cfg.Logger.ErrorContext(ctx, "retention pass failed", slog.Any("error", p.Err))
	case p.Payloads > 0 || p.Events > 0 || p.Audit > 0:
		s.cfg.Logger.InfoContext(ctx, "retention purged", slog.Int("payloads", p.Payloads),
			slog.Int("events", p.Events), slog.Int("audit_rows", p.Audit), slog.Duration("duration", s.cfg.Now().Sub(start)))
	}
	return p
}

// drain calls purge with the batch size until a batch comes back short.
func (s *Service) drain(purge func(limit int) (int, error)) (int, error) {
	total := 0
	for range maxBatchesPerPass {
		n, err := purge(s.cfg.BatchSize)
		total += n
		if err != nil || n < s.cfg.BatchSize {
			return total, err
		}
	}
	return total, nil
}
