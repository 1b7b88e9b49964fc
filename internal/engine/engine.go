// Package engine is Sluice's store written once: everything the stores
// decide, over a Driver that only reads and writes rows.
//
// It seals personal data before it reaches a driver and opens it after,
// hashes subjects and dedup keys, routes events to destinations and sets
// their status, creates deliveries already claimed for the dispatcher of
// the process that stored them, keeps what events show of their shape and
// alerts on its drift, runs the circuit breaker and auto-disable, writes
// the audit log, and publishes every operational notice. A Driver brings
// the transaction primitive and the row operations, in the SQL of its
// database; internal/storetest holds the conformance suite that the engine
// passes over each driver.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/anomaly"
	"github.com/sluicehq/sluice/internal/seal"
)

// DefaultNoticeRetention is how long a notice's payload is kept by
// default: the default payload retention.
const DefaultNoticeRetention = 720 * time.Hour

// Config configures a Store.
type Config struct {
	// Driver is the database. Required; the Store closes it.
	Driver Driver
	// Master is the master key wrapping the tenants' data keys. Required; a
	// key other than the one the database's data keys are wrapped with is
	// refused.
	Master *seal.Master
	// Health is the circuit breaker's policy; zero fields take
	// DefaultHealth's.
	Health Health
	// NoticeRetention is how long the payloads of operational notices are
	// kept. Default DefaultNoticeRetention.
	NoticeRetention time.Duration
	// Keys is when tenants' data keys rotate and retire.
	Keys KeyPolicy
	// Anomalies counts events and verification failures for the burst and
	// auth_failures notices. Default: a Detector with its defaults.
	Anomalies *anomaly.Detector
	// Retention is the server's retention and payload storage, which
	// tenants may override; zero fields take sluice.DefaultRetention's.
	Retention sluice.Retention
	// Logger receives ids and outcomes only. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Store is sluice.Store over a Driver. Create it with Open.
type Store struct {
	driver    Driver
	read      Reader
	keys      *seal.Keyring
	health    Health
	retention time.Duration // of notices
	keyPolicy KeyPolicy
	anomalies *anomaly.Detector
	logger    *slog.Logger
	clock     func() time.Time

	shapes       knownShapes      // observations the driver has
	secrets      secretCache      // destinations' opened URLs and secrets
	subjectCache subjectKeyCache  // subjects' opened keys
	defaults     sluice.Retention // the server's retention
	policies     policyCache      // tenants' retention overrides
	volatile     volatilePayloads // payloads of storage "none", for their retries
	pseudonyms   pseudonymCache   // tokens recorded

	// unscrubbed is set when a deletion has committed that no Scrub has
	// followed yet.
	unscrubbed atomic.Bool
}

var _ sluice.Store = (*Store)(nil)

// Open checks the master key against the database's and returns the
// Store: an error wrapping seal.ErrWrongMaster when the data keys are
// wrapped by another key. On error the driver is left open.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Driver == nil || cfg.Master == nil {
		return nil, errors.New("engine: Config.Driver and Config.Master are required")
	}
	s := &Store{
		driver:    cfg.Driver,
		read:      cfg.Driver.Read(),
		health:    cfg.Health.withDefaults(),
		retention: cfg.NoticeRetention,
		defaults:  cfg.Retention.Or(sluice.DefaultRetention),
		keyPolicy: cfg.Keys.withDefaults(),
		anomalies: cfg.Anomalies,
		logger:    cfg.Logger,
		clock:     cfg.Now,
	}
	if s.retention <= 0 {
		s.retention = DefaultNoticeRetention
	}
	if s.anomalies == nil {
		s.anomalies = &anomaly.Detector{}
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.keys = seal.NewKeyring(cfg.Master, keyStore{s}, seal.Policy{RotateAfter: s.keyPolicy.RotateAfter,
		Refresh: s.keyPolicy.Refresh, Now: s.clock})
	if err := s.checkMaster(ctx); err != nil {
		return nil, err
	}
	if err := s.redactStoredPaths(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// now is the clock's time as stored: UTC milliseconds, so that a time the
// store sets on what it returns reads back the same.
func (s *Store) now() time.Time { return s.clock().UTC().Truncate(time.Millisecond) }

// closeTimeout bounds what Close writes before it closes the driver.
const closeTimeout = 5 * time.Second

// Close adds the values sealed since the last count to the data keys'
// counts, and closes the driver.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := s.keys.Flush(ctx); err != nil {
		s.logger.Warn("seal counts not stored", slog.Any("error", err))
	}
	return s.driver.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.driver.Ping(ctx) }

// Listener is the driver's: nil when one process owns the database.
func (s *Store) Listener() sluice.Listener { return s.driver.Listener() }

// Exclusive is the driver's: nil when one process owns the database.
func (s *Store) Exclusive() sluice.Exclusive { return s.driver.Exclusive() }

// audit appends an audit entry of the actor in ctx inside tx.
func (s *Store) audit(ctx context.Context, tx Tx, tenantID, action, resourceID string) error {
	return s.auditChanges(ctx, tx, tenantID, action, resourceID, nil)
}

// auditChanges appends an audit entry of the actor in ctx inside tx, with
// the fields the change changed (see changes).
func (s *Store) auditChanges(ctx context.Context, tx Tx, tenantID, action, resourceID string, changes []sluice.Change) error {
	e := &sluice.AuditEntry{ID: sluice.NewID(sluice.PrefixAudit), TenantID: tenantID,
		ActorKeyID: sluice.ActorFrom(ctx).KeyID, Action: action, ResourceID: resourceID, At: s.now(),
		Changes: changes}
	if err := tx.InsertAudit(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// auditDiff appends an audit entry of the actor in ctx inside tx with the
// fields that differ from before to after (nil before: a creation, nil
// after: a deletion).
func (s *Store) auditDiff(ctx context.Context, tx Tx, tenantID, action, resourceID string, before, after []auditField) error {
	changes, err := s.changes(ctx, tenantID, before, after)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return s.auditChanges(ctx, tx, tenantID, action, resourceID, changes)
}

// AuditEntries lists a tenant's audit entries that match the filter,
// newest first; EINVALID for a filter that fails its Validate.
func (s *Store) AuditEntries(ctx context.Context, tenantID string, f sluice.AuditFilter, page sluice.Page) ([]*sluice.AuditEntry, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	return s.read.AuditEntries(ctx, tenantID, f, page)
}

// AuditLog lists a tenant's audit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.AuditEntry, string, error) {
	return s.AuditEntries(ctx, tenantID, sluice.AuditFilter{}, page)
}

// DestinationDeliveries lists a destination's deliveries, newest first.
func (s *Store) DestinationDeliveries(ctx context.Context, tenantID, destinationID string, page sluice.Page) ([]*sluice.Delivery, string, error) {
	return s.read.DestinationDeliveries(ctx, tenantID, destinationID, page)
}

// APIKeys lists the tenant's keys, newest first.
func (s *Store) APIKeys(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.APIKey, string, error) {
	return s.read.APIKeys(ctx, tenantID, page)
}

// Erasures lists the tenant's erasure records, newest first.
func (s *Store) Erasures(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Erasure, string, error) {
	return s.read.Erasures(ctx, tenantID, page)
}

// RecordAudit appends an entry that is not part of a change the store
// makes itself, such as a payload read.
func (s *Store) RecordAudit(ctx context.Context, e *sluice.AuditEntry) error {
	if e.ID == "" {
		e.ID = sluice.NewID(sluice.PrefixAudit)
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error { return tx.InsertAudit(ctx, e) })
}

// QueueStats counts pending deliveries and destinations by state.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (*sluice.QueueStats, error) {
	return s.read.QueueStats(ctx, now)
}
