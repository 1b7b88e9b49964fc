package engine

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// Driver is a database under the engine: a transaction primitive, row
// operations, and what only a database can do its own way (group commit,
// row locks, notifications, advisory locks). It decides nothing: which rows
// to write, and why, is the engine's.
//
// internal/sqlite and internal/postgres implement it; internal/storetest
// runs the conformance suite on the engine over each. Errors are mapped to
// codes by the driver: a unique violation is ECONFLICT, a missing row an
// operation looks for is ENOTFOUND, a row that refers to one that does not
// exist (a foreign key) is ENOTFOUND.
//
// Times are stored at millisecond precision. A driver has no clock: every
// time it writes is given.
type Driver interface {
	// Read returns the row reads outside a transaction.
	Read() Reader
	// WithTx runs fn in a transaction and commits it if fn returns nil. fn
	// may run more than once (a driver retries a transaction the database
	// aborted, or runs it again alone after another in its group commit
	// failed), so it must keep no state but what it returns through
	// variables it sets afresh on each run.
	WithTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// CreateEvent runs the transaction of one new event: it reads the
	// tenant's routes (as Tx.Routes) and the keys of the subjects with the
	// hashes (as Tx.SubjectKeys; none when hashes is empty), has plan turn
	// them into the event's rows and inserts them (as Tx.InsertEvent). It
	// is given whole so that the driver can send it in as few round trips
	// as it can. plan may run more than once, as fn of WithTx.
	CreateEvent(ctx context.Context, tenantID string, hashes [][]byte,
		plan func(routes []*DestinationRow, keys []SubjectKeyRow) (*EventRows, error)) (*EventInserted, error)

	// Listener returns how to hear of work that other processes sharing
	// the database commit (see Tx.AnnounceWork), or nil when one process
	// owns the database.
	Listener() sluice.Listener
	// Exclusive returns how to run work in one process at a time, or nil
	// when one process owns the database.
	Exclusive() sluice.Exclusive

	// Scrub removes from the database's files what the deletions committed
	// so far leave readable there: on SQLite, old page images in the
	// write-ahead log; on PostgreSQL, the bytes of deleted subject keys and
	// data keys in their pages' free space. The engine calls it after
	// every erasure, and the retention service after every purge pass
	// (Store.Scrub). Pending reports that some of it has to wait, for
	// transactions that may still read what was deleted to end: the next
	// Scrub tries again.
	Scrub(ctx context.Context) (pending bool, err error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. Listeners and exclusive runs should have
	// ended first.
	Close() error
}

// Reader reads rows. Every read scoped to a tenant never returns another
// tenant's rows: ENOTFOUND, as for a row that does not exist.
type Reader interface {
	// OperatorKey returns the operator key; ENOTFOUND if there is none.
	OperatorKey(ctx context.Context) (*sluice.APIKey, error)
	// KeyByTokenHash returns the key with the token hash; ENOTFOUND.
	KeyByTokenHash(ctx context.Context, hash []byte) (*sluice.APIKey, error)
	// APIKey returns one of the tenant's keys; ENOTFOUND.
	APIKey(ctx context.Context, tenantID, id string) (*sluice.APIKey, error)
	SessionReader
	PortalReader

	// Setting returns a store-wide setting; ENOTFOUND if it is not set.
	Setting(ctx context.Context, name string) (string, error)
	// CountDataKeys counts the data keys of every tenant.
	CountDataKeys(ctx context.Context) (int, error)
	// NewestDataKey returns the tenant's newest data key, wrapped: the
	// latest created, and of those created at once the greatest id.
	NewestDataKey(ctx context.Context, tenantID string) (*DataKeyRow, error)
	// DataKey returns the data key with the id, wrapped.
	DataKey(ctx context.Context, id string) ([]byte, error)
	// RetiringDataKeys returns, by tenant and age, the data keys that a
	// newer key of their tenant created at or before supersededBy
	// succeeds.
	RetiringDataKeys(ctx context.Context, supersededBy time.Time) ([]*DataKeyRow, error)
	// SealedUnder returns up to limit of the tenant's values that outlive
	// payloads (see SealedValue) whose sealed bytes start with prefix (the
	// values sealed under one data key, seal.SealedPrefix), column after
	// column and row after row in a fixed order: those after the value
	// after, when it is set, so that a pass over many goes on where the
	// last batch ended.
	SealedUnder(ctx context.Context, tenantID string, prefix []byte, after *SealedValue, limit int) ([]SealedValue, error)
	// PayloadsSealedUnder counts the tenant's payloads whose body or key
	// share starts with prefix, and returns the latest expiry among them.
	PayloadsSealedUnder(ctx context.Context, tenantID string, prefix []byte) (n int, lastExpiry time.Time, err error)

	// Destination returns one of the tenant's destinations.
	Destination(ctx context.Context, tenantID, id string) (*DestinationRow, error)
	// Destinations lists the tenant's destinations, newest first.
	Destinations(ctx context.Context, tenantID string, page sluice.Page) ([]*DestinationRow, string, error)
	// CustomerDestinations lists the destinations of one of the tenant's
	// customers, newest first.
	CustomerDestinations(ctx context.Context, tenantID, customer string, page sluice.Page) ([]*DestinationRow, string, error)
	// Source returns one of the tenant's sources.
	Source(ctx context.Context, tenantID, id string) (*SourceRow, error)
	// SourceByID returns a source whatever its tenant, for ingest.
	SourceByID(ctx context.Context, id string) (*SourceRow, error)
	// Sources lists the tenant's sources, newest first.
	Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*SourceRow, string, error)

	// Event returns one of the tenant's events.
	Event(ctx context.Context, tenantID, id string) (*sluice.Event, error)
	// EventByDedupKey returns the tenant's event stored under the dedup
	// key's digest.
	EventByDedupKey(ctx context.Context, tenantID, digest string) (*sluice.Event, error)
	// Events lists the tenant's events that pass the filter, newest first.
	Events(ctx context.Context, tenantID string, f sluice.EventFilter) ([]*sluice.Event, string, error)
	// Payload returns what is stored of an event's payload; its Body is
	// nil when none is.
	Payload(ctx context.Context, tenantID, eventID string) (*PayloadRow, error)
	// Deliveries lists an event's deliveries, oldest first; ENOTFOUND for
	// an event the tenant does not have.
	Deliveries(ctx context.Context, tenantID, eventID string) ([]*sluice.Delivery, error)
	// Attempts lists an event's attempts, oldest first; ENOTFOUND as
	// Deliveries.
	Attempts(ctx context.Context, tenantID, eventID string) ([]*sluice.Attempt, error)
	// SubjectKeys returns the tenant's stored keys of the subject hashes it
	// has; a row's SealedKey is nil for a subject indexed before subject
	// keys existed.
	SubjectKeys(ctx context.Context, tenantID string, hashes [][]byte) ([]SubjectKeyRow, error)
	// Pseudonym returns the record of a token the tenant's destination was
	// sent, with its subject's sealed key; ENOTFOUND when there is none
	// (never recorded, or its subject's key was deleted).
	Pseudonym(ctx context.Context, tenantID, destinationID, token string) (*PseudonymRow, error)
	// KeyShares returns the subjects' shares of the events' keys, with each
	// subject's sealed key: one per subject link that has a share.
	KeyShares(ctx context.Context, eventIDs []string) ([]KeyShareRow, error)
	// SubjectPayloads returns the payloads linked to the subject hash that
	// are retained and expire after now, by event id.
	SubjectPayloads(ctx context.Context, tenantID string, hash []byte, now time.Time) ([]*SubjectPayloadRow, error)
	// Observations lists the tenant's observations by source, event type,
	// kind and name.
	Observations(ctx context.Context, tenantID string) ([]*sluice.Observation, error)
	// Tenant returns a tenant; ENOTFOUND if there is none.
	Tenant(ctx context.Context, id string) (*sluice.Tenant, error)
	// FieldObservations lists every tenant's field paths observed, by
	// tenant, source and event type.
	FieldObservations(ctx context.Context) ([]TenantObservation, error)
	// RetainedOfType returns up to limit events of the type, of any tenant,
	// whose payloads are retained.
	RetainedOfType(ctx context.Context, eventType string, limit int) ([]string, error)
	// RetainedPayloads counts the tenant's payloads and returns the
	// earliest expiry (zero when there are none).
	RetainedPayloads(ctx context.Context, tenantID string) (int, time.Time, error)
	// QueueStats counts pending deliveries and destinations by state at now.
	QueueStats(ctx context.Context, now time.Time) (*sluice.QueueStats, error)
	// AuditEntries lists the tenant's audit entries that match the
	// filter, newest first.
	AuditEntries(ctx context.Context, tenantID string, f sluice.AuditFilter, page sluice.Page) ([]*sluice.AuditEntry, string, error)
	// DestinationDeliveries lists a destination's deliveries, newest
	// first; ENOTFOUND when the tenant has no such destination.
	DestinationDeliveries(ctx context.Context, tenantID, destinationID string, page sluice.Page) ([]*sluice.Delivery, string, error)
	// APIKeys lists the tenant's keys, newest first.
	APIKeys(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.APIKey, string, error)
	// Erasures lists the tenant's erasure records, newest first.
	Erasures(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Erasure, string, error)
	// LoadClaims reads what attempting the deliveries takes, in the order
	// of ids; a delivery whose event or destination is gone is left out,
	// and one whose payload is gone or past its expiry at now comes without
	// a body. It reads the deliveries whatever their status: claimed ones,
	// as a claim reads them, or those an attempt is reported of.
	LoadClaims(ctx context.Context, ids []string, now time.Time) ([]*ClaimRow, error)
}

// Tx is a transaction: reads that see its writes, and the writes. Writes
// that find no row to change return ENOTFOUND.
type Tx interface {
	Reader

	// InsertTenant stores a tenant.
	InsertTenant(ctx context.Context, t *sluice.Tenant) error
	// UpdateTenant changes a tenant's name and retention; ENOTFOUND if
	// there is none.
	UpdateTenant(ctx context.Context, t *sluice.Tenant) error
	// InsertAPIKey stores a key: ECONFLICT when its token, or a second
	// operator key, is taken.
	InsertAPIKey(ctx context.Context, k *sluice.APIKey) error
	// SetTokenHash replaces a key's token hash and returns its tenant.
	SetTokenHash(ctx context.Context, keyID string, hash []byte) (tenantID string, err error)
	// DeleteAPIKey deletes a key.
	DeleteAPIKey(ctx context.Context, id string) error
	SessionWriter
	PortalWriter
	// SetKeyLastUsed sets a key's last use to at unless it is at or later
	// already; an unknown key changes nothing and is no error.
	SetKeyLastUsed(ctx context.Context, id string, at time.Time) error
	// InsertAudit appends an audit entry.
	InsertAudit(ctx context.Context, e *sluice.AuditEntry) error

	// ShareSetting reads a setting and keeps it from changing until the
	// transaction ends; LockSetting reads it to change it.
	ShareSetting(ctx context.Context, name string) (string, error)
	LockSetting(ctx context.Context, name string) (string, error)
	// InsertSetting stores a setting unless it is set; either way it
	// returns the value the store holds.
	InsertSetting(ctx context.Context, name, value string) (string, error)
	// UpdateSetting changes a setting.
	UpdateSetting(ctx context.Context, name, value string) error
	// InsertDataKey stores a tenant's wrapped data key (its ID, TenantID,
	// Wrapped, WrappedSubject and CreatedAt).
	InsertDataKey(ctx context.Context, k *DataKeyRow) error
	// LockDataKeys reads every data key, by id, to change them.
	LockDataKeys(ctx context.Context) ([]WrappedKey, error)
	// UpdateDataKey replaces a data key's wrapped bytes and wrapped
	// subject key.
	UpdateDataKey(ctx context.Context, id string, wrapped, wrappedSubject []byte) error
	// LockTenantDataKeys keeps the tenant's data keys from changing until
	// the transaction ends.
	LockTenantDataKeys(ctx context.Context, tenantID string) error
	// AddSeals adds n to the count of values sealed under a data key; a
	// key that is gone changes nothing.
	AddSeals(ctx context.Context, id string, n int64) error
	// HoldDataKey records that a data key is kept until then, for the
	// payloads sealed under it.
	HoldDataKey(ctx context.Context, id string, until time.Time) error
	// DeleteDataKey deletes a data key, so that nothing in the database's
	// files unwraps it once scrubbed (Driver.Scrub).
	DeleteDataKey(ctx context.Context, id string) error
	// Reseal replaces a value SealedUnder returned with resealed, unless
	// the value changed meanwhile, and reports whether it did.
	Reseal(ctx context.Context, tenantID string, v SealedValue, resealed []byte) (bool, error)
	// TenantIDs lists every tenant, by id.
	TenantIDs(ctx context.Context) ([]string, error)

	// InsertSource stores a source.
	InsertSource(ctx context.Context, s *SourceRow) error
	// UpdateSource stores every field of a source but its times of creation.
	UpdateSource(ctx context.Context, s *SourceRow) error
	// LockSource reads one of the tenant's sources to change it.
	LockSource(ctx context.Context, tenantID, id string) (*SourceRow, error)
	// DeleteSource deletes one of the tenant's sources.
	DeleteSource(ctx context.Context, tenantID, id string) error

	// InsertDestination stores a destination, its health clean.
	InsertDestination(ctx context.Context, d *DestinationRow) error
	// LockDestination reads one of the tenant's destinations to change it.
	LockDestination(ctx context.Context, tenantID, id string) (*DestinationRow, error)
	// ShareDestination reads one of the tenant's destinations and keeps it
	// from being deleted until the transaction ends.
	ShareDestination(ctx context.Context, tenantID, id string) (*DestinationRow, error)
	// UpdateDestination stores a destination's configuration: every field
	// but its health and its time of creation.
	UpdateDestination(ctx context.Context, d *DestinationRow) error
	// DeleteDestination deletes one of the tenant's destinations.
	DeleteDestination(ctx context.Context, tenantID, id string) error
	// CancelDeliveries cancels the destination's pending deliveries and
	// returns their events, by id.
	CancelDeliveries(ctx context.Context, destinationID string, now time.Time) (eventIDs []string, err error)
	// Routes returns the tenant's destinations, by id, and keeps them from
	// being deleted until the transaction ends. The rows may be the
	// driver's own: they must not be changed.
	Routes(ctx context.Context, tenantID string) ([]*DestinationRow, error)

	// InsertEvent stores an event with everything in rows; it writes
	// nothing when the event's dedup key is taken.
	InsertEvent(ctx context.Context, rows *EventRows) (*EventInserted, error)
	// InsertDeliveries stores pending, unclaimed deliveries.
	InsertDeliveries(ctx context.Context, ds []*sluice.Delivery) error
	// RefreshEventStatus sets each event's status from its deliveries',
	// as sluice.EventStatusOf says.
	RefreshEventStatus(ctx context.Context, eventIDs []string) error
	// AnnounceWork tells the processes listening (Driver.Listener) that the
	// transaction made work due now, when it commits.
	AnnounceWork(ctx context.Context) error

	// RecordAttempts moves each attempt's delivery on and stores the
	// attempt, in the order given, and reads its destination's health. One
	// whose delivery is no longer pending at the attempt's number less one
	// changes nothing (Recorded false).
	RecordAttempts(ctx context.Context, as []*AttemptRow, now time.Time) ([]AttemptWritten, error)
	// LockHealth reads a destination's health to change it; nil when the
	// destination is gone.
	LockHealth(ctx context.Context, tenantID, destinationID string) (*DestinationHealth, error)
	// UpdateHealth stores a destination's health.
	UpdateHealth(ctx context.Context, destinationID string, h *DestinationHealth) error
	// ResetDestinationHealth forgets a destination's failures and pause.
	ResetDestinationHealth(ctx context.Context, destinationID string) error
	// ResetRateLimit forgets a destination's rate limiter: the next start
	// is free and the starts reserved so far are void.
	ResetRateLimit(ctx context.Context, destinationID string) error
	// DisableDestination switches a destination off with the reason.
	DisableDestination(ctx context.Context, destinationID, reason string, at time.Time) error

	// ClaimCandidates returns up to limit due pending deliveries at now,
	// in CompareCandidates' order, of enabled destinations of
	// sluice.KindHTTP whose gates let them start and that are not in
	// skip, of tenants not in skipTenants, with the gates of their
	// destinations that have one (see Gate). A driver shared by processes
	// locks them, passing over those another transaction holds.
	ClaimCandidates(ctx context.Context, now time.Time, skip, skipTenants []string, limit int) ([]ClaimCandidate, map[string]*Gate, error)
	// ListenCandidates is ClaimCandidates for one enabled listen
	// destination (sluice.KindListen), which ClaimCandidates never
	// returns work of.
	ListenCandidates(ctx context.Context, now time.Time, destinationID string, limit int) ([]ClaimCandidate, map[string]*Gate, error)
	// KeepListening sets one of the tenant's listen destinations'
	// ListenUntil.
	KeepListening(ctx context.Context, tenantID, destinationID string, until time.Time) error
	// DeleteIdleListeners deletes up to limit listen destinations whose
	// ListenUntil is at or before now and returns them; a driver shared by
	// processes passes over those another transaction holds.
	DeleteIdleListeners(ctx context.Context, now time.Time, limit int) ([]DestinationRef, error)
	// ApplyClaimPlan leases the plan's claims until leaseUntil (their
	// next_attempt_at moves there too), reschedules its reservations and
	// stores the gates marked Changed.
	ApplyClaimPlan(ctx context.Context, plan ClaimPlan, gates map[string]*Gate, now, leaseUntil time.Time) error
	// ExpireDeliveries ends pending deliveries as expired and returns their
	// events, by id.
	ExpireDeliveries(ctx context.Context, ids []string, now time.Time) (eventIDs []string, err error)
	// ReturnClaims makes claimed deliveries that this driver holds due at
	// now, unclaimed.
	ReturnClaims(ctx context.Context, ids []string, now time.Time) error
	// ReleaseClaims ends every lease that cannot be an attempt in flight:
	// this driver's own, and those already past their end.
	ReleaseClaims(ctx context.Context, now time.Time) error

	// DeleteSubjectLinks deletes the tenant's links of a subject hash and
	// returns their events, by id.
	DeleteSubjectLinks(ctx context.Context, tenantID string, hash []byte) (eventIDs []string, err error)
	// DeleteSubjectKey deletes the tenant's key of a subject hash, if it has
	// one, and the links that go with it.
	DeleteSubjectKey(ctx context.Context, tenantID string, hash []byte) error
	// SetSubjectKeys gives keys to subjects stored without one (SealedKey
	// nil): ECONFLICT if one of them has a key already.
	SetSubjectKeys(ctx context.Context, tenantID string, keys []SubjectKeyRow) error
	// InsertSubjectKeys stores new keys of subjects, created at.
	InsertSubjectKeys(ctx context.Context, tenantID string, keys []SubjectKeyRow, at time.Time) error
	// InsertPseudonyms records tokens the tenant's destinations were sent,
	// created at, leaving those recorded already as they are. Each row
	// refers to its subject's key row and goes with it: ENOTFOUND when
	// that row is gone.
	InsertPseudonyms(ctx context.Context, tenantID string, rows []PseudonymRow, at time.Time) error
	// RenameObservations gives observations new names: each old row goes,
	// and the new one is stored, or keeps the earlier first sighting of the
	// two when it is there already.
	RenameObservations(ctx context.Context, renames []ObservationRename) error
	// EndPayloads deletes the events' payloads, sets the payload state of
	// those still retained to state and ends their pending deliveries with
	// status. It returns how many payloads it deleted.
	EndPayloads(ctx context.Context, eventIDs []string, state sluice.PayloadState, status sluice.DeliveryStatus, now time.Time) (int, error)
	// InsertErasure records an erasure.
	InsertErasure(ctx context.Context, e *ErasureRow) error
	// LockEvent reads one of the tenant's events, and its payload, and
	// keeps them from changing until the transaction ends.
	LockEvent(ctx context.Context, tenantID, id string) (*sluice.Event, *PayloadRow, error)
	// HasExhaustedDelivery reports whether the event has an exhausted
	// delivery to the destination.
	HasExhaustedDelivery(ctx context.Context, eventID, destinationID string) (bool, error)
	// LockRecoverableEvents returns, by id, the tenant's events with a
	// delivery to the destination exhausted and created in [since, until)
	// whose payloads are retained and expire after now, and keeps them
	// from changing until the transaction ends.
	LockRecoverableEvents(ctx context.Context, tenantID, destinationID string, since, until, now time.Time) ([]string, error)
	// DuePayloads returns up to limit payloads whose ExpiresAt is at or
	// before now, earliest first; a driver shared by processes locks them,
	// passing over those another transaction holds.
	DuePayloads(ctx context.Context, now time.Time, limit int) ([]DuePayload, error)
	// ExtendPayloads moves payloads' ExpiresAt.
	ExtendPayloads(ctx context.Context, expiries []PayloadExpiry) error
	// DiscardDelivered deletes the payloads kept until delivered (see
	// EventRows.UntilDelivered) of those of the events now delivered, and
	// marks them expired. It returns the events among eventIDs that are
	// settled (sluice.EventDelivered or EventUnrouted).
	DiscardDelivered(ctx context.Context, eventIDs []string) (settled []string, err error)
	// PurgeEvents deletes up to limit events whose tenant's metadata
	// retention (or def, when the tenant sets none) has passed at now, with
	// everything that hangs off them, and returns how many.
	PurgeEvents(ctx context.Context, now time.Time, def time.Duration, limit int) (int, error)
	// PurgeAudit deletes up to limit of the audit entries, erasure records
	// and observations whose tenant's audit retention (or def) has passed
	// at now, and returns how many. Observations go by source and event
	// type, all those of a type whose first sighting is that old together,
	// so that the type is seen anew, not as drifting.
	PurgeAudit(ctx context.Context, now time.Time, def time.Duration, limit int) (int, error)

	// LockTenant reads a tenant to delete it, and keeps rows that refer to
	// it from being added until the transaction ends: ENOTFOUND when there
	// is no such tenant.
	LockTenant(ctx context.Context, id string) error
	// DeleteTenantKeys deletes the tenant's data keys, its subject keys
	// (and with them its subject links), its API keys and its portal
	// sessions, and returns the ids of the data keys.
	DeleteTenantKeys(ctx context.Context, tenantID string) (dataKeyIDs []string, err error)
	// DeleteTenantConfig deletes the tenant's sources and destinations and
	// returns the destinations' ids.
	DeleteTenantConfig(ctx context.Context, tenantID string) (destinationIDs []string, err error)
	// DeleteTenantEvents deletes up to limit of the tenant's events, with
	// everything that hangs off them, and returns their ids.
	DeleteTenantEvents(ctx context.Context, tenantID string, limit int) (eventIDs []string, err error)
	// DeleteTenantAudit deletes up to limit of the tenant's audit entries
	// and returns how many.
	DeleteTenantAudit(ctx context.Context, tenantID string, limit int) (int, error)
	// DeleteTenant deletes the tenant's observations and erasures, and the
	// tenant, once the rest of its rows are gone: ENOTFOUND when there is
	// no such tenant.
	DeleteTenant(ctx context.Context, id string) error
}

// DestinationRow is a destination as stored: its URL and secrets sealed,
// and empty in the embedded Destination.
type DestinationRow struct {
	sluice.Destination
	SealedURL, SealedSecret []byte
	SealedPreviousSecret    []byte // nil when there is none
	// SealedCredentials holds its headers, auth and client certificate;
	// nil when it has none of them.
	SealedCredentials []byte
}

// DestinationRef names a destination and its tenant.
type DestinationRef struct {
	TenantID, ID string
}

// SourceRow is a source as stored: its credentials (the verification's
// secret and password) sealed, and empty in the embedded Source.
type SourceRow struct {
	sluice.Source
	SealedCredentials []byte
}

// PayloadRow is what is stored of an event's payload.
type PayloadRow struct {
	State       sluice.PayloadState // the event's payload state
	ContentType string
	Hops        int // sluice.Payload.Hops
	// Body and Headers are sealed; Body is nil when no payload is stored,
	// Headers when none were kept.
	Body, Headers []byte
	// KeyShare is the tenant's share of the event's key, sealed under the
	// tenant's data key; nil when the payload is sealed under the tenant's
	// key itself (it names no subject).
	KeyShare []byte
	// ExpiresAt is when the purge next looks at the payload: the earlier of
	// DeliveredUntil and UndeliveredUntil, or its only expiry when they
	// are zero (a payload stored before they were kept apart).
	ExpiresAt time.Time
	// DeliveredUntil is when the payload expires once its event is
	// settled (delivered, or routed nowhere); UndeliveredUntil, when it
	// expires while it is not.
	DeliveredUntil, UndeliveredUntil time.Time
	// Settled says the event is settled (see Settled).
	Settled bool
}

// Until is when the payload expires, as its event stands.
func (p *PayloadRow) Until() time.Time {
	switch {
	case p.Settled && !p.DeliveredUntil.IsZero():
		return p.DeliveredUntil
	case !p.Settled && !p.UndeliveredUntil.IsZero():
		return p.UndeliveredUntil
	}
	return p.ExpiresAt
}

// Settled reports whether an event of the status is settled: delivered, or
// routed nowhere, so that its payload is kept for the delivered window.
// The SQL of the drivers says the same where it filters on expiry.
func Settled(s sluice.EventStatus) bool {
	return s == sluice.EventDelivered || s == sluice.EventUnrouted
}

// DuePayload is a payload whose ExpiresAt has come (see Tx.DuePayloads).
type DuePayload struct {
	EventID string
	// Until is when it expires, as its event stands (PayloadRow.Until).
	Until time.Time
}

// PayloadExpiry moves a payload's ExpiresAt.
type PayloadExpiry struct {
	EventID   string
	ExpiresAt time.Time
}

// TenantObservation is an observation of a tenant.
type TenantObservation struct {
	TenantID string
	sluice.Observation
}

// ObservationRename renames a tenant's observation (its TenantID,
// SourceID, EventType, Kind and Name) to New.
type ObservationRename struct {
	TenantObservation
	New string
}

// SubjectKeyRow is a data subject's key as stored: sealed under its
// tenant's data key, bound to the subject's hash.
type SubjectKeyRow struct {
	Hash []byte
	// ID tells this key from the keys the subject had before an erasure,
	// or has after one: links name it. 0 for a subject indexed before
	// subject keys existed.
	ID        int64
	SealedKey []byte // nil for a subject indexed before subject keys existed
}

// KeyShareRow is a subject's share of an event's key as stored: sealed
// under the subject's key, with that key.
type KeyShareRow struct {
	EventID, TenantID string
	Hash              []byte
	KeyID             int64  // the subject key's row
	Share             []byte // sealed under the subject's key
	SealedSubjectKey  []byte // nil when the subject has no key
}

// SubjectPayloadRow is a retained payload linked to a subject.
type SubjectPayloadRow struct {
	EventID    string
	Type       string
	ReceivedAt time.Time
	Payload    PayloadRow
}

// ErasureRow is an erasure as recorded: under the subject's keyed hash.
type ErasureRow struct {
	sluice.Erasure
	SubjectHash []byte
}

// WrappedKey is a data key as stored.
type WrappedKey struct {
	ID      string
	Wrapped []byte
	// WrappedSubject is the tenant's subject key wrapped for it; nil for a
	// tenant's first key.
	WrappedSubject []byte
}

// EventRows are the rows of a new event.
type EventRows struct {
	Event sluice.Event
	// DedupDigest is the keyed hash of the event's dedup key; "" for none.
	DedupDigest   string
	ContentType   string
	Hops          int    // the payload's sluice.Payload.Hops
	Body, Headers []byte // sealed; Body nil when the payload is not stored, Headers when none were kept
	// KeyShare is the tenant's share of the event's key (see PayloadRow);
	// nil for a payload sealed under the tenant's key.
	KeyShare []byte
	// ExpiresAt, DeliveredUntil and UndeliveredUntil are the payload's
	// expiries (see PayloadRow); the last two zero for one expiry.
	ExpiresAt, DeliveredUntil, UndeliveredUntil time.Time
	// UntilDelivered has the payload deleted as its event is delivered
	// (see Tx.DiscardDelivered).
	UntilDelivered bool
	// Subjects are the event's links to its distinct subjects, each with
	// the subject's share of the event's key.
	Subjects []SubjectLink
	// NewSubjectKeys are stored first, for subjects that had no key row
	// when the transaction read them. Another transaction may store a key
	// of the same subject meanwhile: it then has two, each named by the
	// links made with it, and an erasure deletes both.
	NewSubjectKeys []SubjectKeyRow
	Deliveries     []*DeliveryRow
	// Observations are stored unless the store has them; the first one,
	// of kind sluice.ObservedType, tells whether the type was seen before.
	Observations []sluice.Observation
	// SubjectPaths are where the payload carries its subjects, by type
	// (never a value), kept with the event for its claims (ClaimRow).
	SubjectPaths []sluice.SubjectPath
	// Announce asks the driver to announce the work it makes due (see
	// Tx.AnnounceWork).
	Announce bool
}

// SubjectLink links an event to a subject: its hash, and its share of
// the event's key, sealed under the subject's key.
type SubjectLink struct {
	Hash, Share []byte
	// KeyID names the subject key row the share was sealed under: when
	// that row is gone, the link fails (ENOTFOUND).
	KeyID int64
}

// DeliveryRow is a new pending delivery of an event: due at NextAttemptAt,
// and claimed until LeaseUntil when that is set.
type DeliveryRow struct {
	sluice.Delivery
	LeaseUntil time.Time
}

// EventInserted is what InsertEvent wrote.
type EventInserted struct {
	// Inserted is false when the dedup key was taken: nothing was written.
	Inserted bool
	// NewObservations says, for each of EventRows.Observations, whether
	// the store did not have it.
	NewObservations []bool
}

// AttemptRow is an attempt to store and its delivery's new state.
type AttemptRow struct {
	Attempt       sluice.Attempt
	Status        sluice.DeliveryStatus
	NextAttemptAt time.Time // zero unless Status is pending
	// LockHealth asks for the destination's health to be read to change
	// (see Tx.LockHealth).
	LockHealth bool
}

// AttemptWritten is what RecordAttempts did for one attempt.
type AttemptWritten struct {
	// Recorded is false when the delivery was no longer pending at the
	// attempt: nothing was written.
	Recorded bool
	// Health is the destination's, nil when it is gone.
	Health *DestinationHealth
}

// DestinationHealth is a destination's health (see Health), and its switch.
// Zero times are stored as NULL.
type DestinationHealth struct {
	Enabled      bool
	Failures     int
	FailingSince time.Time
	PausedAt     time.Time     // when the circuit last opened, or a probe failed
	Pause        time.Duration // the length of that pause
	PausedUntil  time.Time
}

// ClaimRow is a claimed delivery as stored: its payload and destination
// still sealed.
type ClaimRow struct {
	Delivery    sluice.Delivery
	EventType   string
	ReceivedAt  time.Time // the event's
	Destination DestinationRow
	ContentType string
	Hops        int // the payload's sluice.Payload.Hops
	// Body is the sealed payload; nil when it is gone or past its expiry.
	Body []byte
	// KeyShare is the tenant's share of the event's key (see PayloadRow).
	KeyShare []byte
	// UntilDelivered says the payload is kept until its event is
	// delivered (EventRows.UntilDelivered).
	UntilDelivered bool
	// SubjectPaths are the event's (EventRows.SubjectPaths).
	SubjectPaths []sluice.SubjectPath
}
