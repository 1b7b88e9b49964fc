package sluice

import (
	"context"
	"time"
)

// Store is durable storage for everything Sluice keeps, under Sluice's
// rules. internal/engine implements it once over a database driver
// (internal/sqlite, internal/postgres); every driver passes the
// conformance suite in internal/storetest.
//
// Methods taking a tenantID never see another tenant's rows: a resource of
// another tenant is ENOTFOUND. Methods that change configuration write an
// audit entry for the Actor in ctx (see WithActor) in the same transaction.
type Store interface {
	// CreateTenant stores a tenant and its first key together.
	CreateTenant(ctx context.Context, t *Tenant, k *APIKey) error
	// Tenant returns a tenant with its retention overrides; ENOTFOUND if
	// there is none.
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// UpdateTenant changes a tenant's name and retention overrides, which
	// take effect in every process sharing the store within seconds.
	UpdateTenant(ctx context.Context, t *Tenant) error
	// DeleteTenant destroys a tenant: its keys first, so that nothing
	// sealed for it opens again and its tokens no longer authenticate,
	// then every row of it. The entry tenant.delete is recorded in the
	// operator's tenant. ENOTFOUND for an unknown tenant, ECONFLICT for
	// the operator's own.
	DeleteTenant(ctx context.Context, tenantID string) error
	// OperatorKey returns the operator key; ENOTFOUND before the first start.
	OperatorKey(ctx context.Context) (*APIKey, error)
	// SetTokenHash replaces a key's token hash (the operator token given by
	// configuration). ENOTFOUND for an unknown key.
	SetTokenHash(ctx context.Context, keyID string, hash []byte) error
	// KeyByTokenHash finds the key for a bearer token; ENOTFOUND if none.
	KeyByTokenHash(ctx context.Context, hash []byte) (*APIKey, error)
	// CreateAPIKey stores a new key of an existing tenant.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// DeleteAPIKey removes a key: ENOTFOUND if it is not the tenant's,
	// EFORBIDDEN for the operator key.
	DeleteAPIKey(ctx context.Context, tenantID, id string) error
	// RecordKeyUse records that a key authenticated at at (a whole
	// KeyUseMinute): its LastUsedAt becomes at unless it is at or later
	// already. An unknown key is no error: it may have been deleted since.
	RecordKeyUse(ctx context.Context, keyID string, at time.Time) error
	// SessionStore keeps dashboard sessions. Deleting a key, or replacing
	// its token, ends its sessions.
	SessionStore
	// PortalStore keeps the sessions of customers' portals.
	PortalStore

	// CreateDestination stores d.
	CreateDestination(ctx context.Context, d *Destination) error
	// Destination returns one destination or ENOTFOUND.
	Destination(ctx context.Context, tenantID, id string) (*Destination, error)
	// Destinations lists a tenant's destinations, newest first.
	Destinations(ctx context.Context, tenantID string, page Page) ([]*Destination, string, error)
	// CustomerDestinations lists the destinations of one of the tenant's
	// customers, newest first.
	CustomerDestinations(ctx context.Context, tenantID, customer string, page Page) ([]*Destination, string, error)
	// SendTestEvent publishes an event of TestEventType, for the
	// destination's customer, with a payload that holds no personal data,
	// routed to that destination alone and due after firstDelay; audited
	// as destination.test. ENOTFOUND for a destination the tenant does not
	// have, EINVALID for a listen destination.
	SendTestEvent(ctx context.Context, tenantID, destinationID string, firstDelay time.Duration) (*Event, error)
	// UpdateDestination stores every field of d; ENOTFOUND if it is gone.
	// Its audit entry is destination.secret_rotate when d has a new
	// secret, destination.update otherwise.
	UpdateDestination(ctx context.Context, d *Destination) error
	// DeleteDestination removes a destination and cancels its pending
	// deliveries; ENOTFOUND if none.
	DeleteDestination(ctx context.Context, tenantID, id string) error

	// CreateSource stores s.
	CreateSource(ctx context.Context, s *Source) error
	// Source returns one of a tenant's sources or ENOTFOUND.
	Source(ctx context.Context, tenantID, id string) (*Source, error)
	// IngestSource returns a source by id alone, for the unauthenticated
	// ingest endpoint: ENOTFOUND if there is none.
	IngestSource(ctx context.Context, id string) (*Source, error)
	// Sources lists a tenant's sources, newest first.
	Sources(ctx context.Context, tenantID string, page Page) ([]*Source, string, error)
	// UpdateSource stores every field of s; ENOTFOUND if it is gone.
	UpdateSource(ctx context.Context, s *Source) error
	// DeleteSource removes a source; its events stay. ENOTFOUND if none.
	DeleteSource(ctx context.Context, tenantID, id string) error

	// CreateEvent stores an event, its payload and one pending delivery per
	// matching destination in one transaction, each due after firstDelay,
	// those it may claimed for e.Claim. If DedupKey was seen before in the
	// tenant it stores nothing and returns the first event as a duplicate.
	// It also keeps what the event shows of its shape (Observations) and
	// publishes the anomalies it reveals.
	CreateEvent(ctx context.Context, e *NewEvent, firstDelay time.Duration) (*EventCreated, error)
	// Event returns an event's metadata or ENOTFOUND.
	Event(ctx context.Context, tenantID, id string) (*Event, error)
	// Events lists a tenant's events, newest first.
	Events(ctx context.Context, tenantID string, f EventFilter) ([]*Event, string, error)
	// Payload returns an event's payload: ENOTFOUND for an unknown event,
	// EGONE when the payload has expired or was erased.
	Payload(ctx context.Context, tenantID, eventID string) (*Payload, error)
	// Deliveries lists an event's deliveries, oldest first.
	Deliveries(ctx context.Context, tenantID, eventID string) ([]*Delivery, error)
	// DestinationDeliveries lists a destination's deliveries, newest
	// first; ENOTFOUND when the tenant has no such destination.
	DestinationDeliveries(ctx context.Context, tenantID, destinationID string, page Page) ([]*Delivery, string, error)
	// Attempts lists an event's attempts, oldest first.
	Attempts(ctx context.Context, tenantID, eventID string) ([]*Attempt, error)

	// ErasePayload deletes one event's payload now and cancels its pending
	// deliveries; the metadata stays, payload_state "erased". ENOTFOUND for
	// an unknown event; erasing an erased payload changes nothing.
	ErasePayload(ctx context.Context, tenantID, eventID string) error
	// EraseSubject deletes every retained payload linked to the subject,
	// cancels those events' pending deliveries, and records the erasure
	// under the subject's keyed hash. Repeating it erases nothing more.
	EraseSubject(ctx context.Context, tenantID string, s Subject) (*Erasure, error)
	// ResolvePseudonym returns the data subject behind a pseudonymous token
	// a destination was sent (see Claim.Pseudonyms), and records the
	// resolution as pseudonym.resolve in the audit log. ENOTFOUND for a
	// token the destination was never sent, or whose subject was erased
	// since.
	ResolvePseudonym(ctx context.Context, tenantID, destinationID, token string) (*Subject, error)
	// SubjectPayloads returns every retained payload linked to the subject,
	// oldest first.
	SubjectPayloads(ctx context.Context, tenantID string, s Subject) ([]*SubjectPayload, error)
	// Replay creates a new pending delivery of the event, due after
	// firstDelay, to the one destination named or to every destination it
	// matches now. ENOTFOUND for an unknown event or destination, EGONE
	// when its payload has expired or was erased.
	Replay(ctx context.Context, tenantID, eventID, destinationID string, firstDelay time.Duration) ([]*Delivery, error)

	// Recover gives each exhausted delivery of the destination created in
	// [since, until) whose payload is still retained a new pending delivery,
	// due after firstDelay, and returns how many it made. ENOTFOUND for a
	// destination that is not the tenant's.
	Recover(ctx context.Context, tenantID, destinationID string, since, until time.Time, firstDelay time.Duration) (int, error)
	// ResumeDestination closes a paused destination's circuit breaker by
	// hand: its failures and pause are forgotten, as after a successful
	// probe, and the deliveries the pause held back are due at once.
	// Audited as destination.resume. ENOTFOUND for a destination that is
	// not the tenant's, ECONFLICT for one that is not paused.
	ResumeDestination(ctx context.Context, tenantID, id string) error

	// PurgeExpiredPayloads deletes up to limit payloads whose expiry, as
	// their events stand (delivered or not), has come at now (their events
	// become payload_state "expired" and their pending deliveries
	// "expired") and returns how many it deleted.
	PurgeExpiredPayloads(ctx context.Context, now time.Time, limit int) (int, error)
	// PurgeMetadata deletes up to limit events whose tenant's metadata
	// retention has passed at now, with everything that hangs off them,
	// and returns how many it deleted.
	PurgeMetadata(ctx context.Context, now time.Time, limit int) (int, error)
	// PurgeAudit deletes up to limit each of the audit entries, erasure
	// records and observations whose tenant's audit retention has passed
	// at now, and returns how many it deleted.
	PurgeAudit(ctx context.Context, now time.Time, limit int) (int, error)
	// Scrub removes from the store's files what the deletions committed
	// since the last scrub left readable there: deleted rows in free pages,
	// old page images in a write-ahead log, dead tuples. Erasures scrub as
	// they end; purges leave it to their caller, once a pass.
	Scrub(ctx context.Context) error
	// RotateDataKey gives the tenant a new data key, which seals its new
	// values from then on in every process sharing the store; the old
	// keys keep opening what they sealed until nothing sealed under them
	// is left. ENOTFOUND for an unknown tenant.
	RotateDataKey(ctx context.Context, tenantID string) (*DataKeyRotation, error)

	// ClaimDue leases up to r.Limit due pending deliveries of enabled
	// destinations, earliest first, for r.Lease. A claimed delivery is not
	// claimed again until its lease ends or its attempt is recorded.
	ClaimDue(ctx context.Context, r ClaimRequest) ([]*Claim, error)
	// RecordAttempts records attempts in one transaction, each moving its
	// delivery on as it says, its destination's health (the circuit
	// breaker) with it, and the operational events it calls for. It
	// returns what became of each, in order: ECONFLICT for one whose
	// delivery is no longer claimed at its attempt (its lease ended and
	// another worker took it), which leaves the others to be recorded;
	// any other failure fails them all.
	RecordAttempts(ctx context.Context, rs []*AttemptResult) []AttemptRecorded
	// ReleaseClaims ends the leases this store holds, and those already
	// past their end: at the start of a process nothing it claimed before
	// can still be in flight. A store shared by processes never ends
	// another live process's lease.
	ReleaseClaims(ctx context.Context) error
	// ReturnClaims gives back claims this store holds that were never
	// attempted: each delivery is due again now. Ids no longer claimed are
	// ignored.
	ReturnClaims(ctx context.Context, deliveryIDs []string) error

	// ClaimListen keeps the tenant's listen destination alive until
	// r.KeepUntil, unless it lives longer already, and leases up to
	// r.Limit of its due pending deliveries for r.Lease, as ClaimDue does
	// for the dispatcher, which never claims them. ENOTFOUND when the
	// destination is not the tenant's or not a listen destination.
	ClaimListen(ctx context.Context, r ListenClaimRequest) ([]*Claim, error)
	// FetchClaim returns the delivery with the id as a Claim carrying its
	// payload and its destination as they are now, for a thin delivery's
	// fetch: ENOTFOUND when there is no such delivery or its destination
	// was deleted; a nil Body when the payload is gone (erased, expired or
	// never stored).
	FetchClaim(ctx context.Context, deliveryID string) (*Claim, error)
	// ListenDeliveries returns those of the deliveries with the ids that
	// go to the tenant's listen destination, each as a Claim without its
	// Body, for recording the attempts its listener reports; the others
	// are left out. Whether a delivery is still claimed at an attempt is
	// RecordAttempts' to check. ENOTFOUND as ClaimListen.
	ListenDeliveries(ctx context.Context, tenantID, destinationID string, deliveryIDs []string) ([]*Claim, error)
	// PurgeIdleListeners deletes up to limit listen destinations whose
	// ListenUntil has passed at now, as DeleteDestination does, and
	// returns how many it deleted.
	PurgeIdleListeners(ctx context.Context, now time.Time, limit int) (int, error)

	// Observations lists what the tenant's events have been seen to carry,
	// by source and event type (see Observation).
	Observations(ctx context.Context, tenantID string) ([]*Observation, error)

	// RetainedPayloads counts the tenant's retained payloads and returns
	// the earliest time one expires (zero when none is retained).
	RetainedPayloads(ctx context.Context, tenantID string) (count int, nextExpiry time.Time, err error)

	// QueueStats counts pending deliveries and destinations by state,
	// across tenants, at now: for metrics.
	QueueStats(ctx context.Context, now time.Time) (*QueueStats, error)

	// RecordVerificationFailure counts a request to the source that failed
	// its verification, and publishes sluice.anomaly.auth_failures when
	// they pile up. It reports whether that made deliveries due that a
	// dispatcher must claim.
	RecordVerificationFailure(ctx context.Context, src *Source) (unclaimed bool, err error)
	// RecordLoop notes an event of the tenant refused because it had
	// passed through too many gateways, from the source ("" when
	// published), and publishes sluice.anomaly.loop (at most once a
	// cooldown per source). It reports whether that made deliveries due.
	RecordLoop(ctx context.Context, tenantID, sourceID, eventType string) (unclaimed bool, err error)

	// AuditEntries lists a tenant's audit entries that match the filter,
	// newest first. EINVALID for a filter that fails its Validate.
	AuditEntries(ctx context.Context, tenantID string, f AuditFilter, page Page) ([]*AuditEntry, string, error)
	// AuditLog lists a tenant's audit entries, newest first: AuditEntries
	// with no filter.
	AuditLog(ctx context.Context, tenantID string, page Page) ([]*AuditEntry, string, error)
	// APIKeys lists a tenant's keys, newest first; their token hashes are
	// for authentication, never for display.
	APIKeys(ctx context.Context, tenantID string, page Page) ([]*APIKey, string, error)
	// Erasures lists a tenant's erasure records, newest first: what was
	// erased and when, never whom.
	Erasures(ctx context.Context, tenantID string, page Page) ([]*Erasure, string, error)
	// RecordAudit appends an entry that is not part of a change the store
	// makes itself, such as a payload read.
	RecordAudit(ctx context.Context, e *AuditEntry) error

	// Listener returns how to hear of work other processes sharing the
	// store commit, or nil when only one process uses it.
	Listener() Listener
	// Exclusive returns how to run background work in one process at a
	// time, or nil when only one process uses the store.
	Exclusive() Exclusive

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close stops background work and releases the store.
	Close() error
}

// Page selects one page of a list: at most Limit items after Cursor (the
// next cursor returned with the previous page; empty for the first).
type Page struct {
	Limit  int
	Cursor string
}

// ListAll reads every page of a list, such as Store.Sources, from the
// first.
func ListAll[T any](list func(Page) ([]T, string, error)) ([]T, error) {
	var all []T
	page := Page{Limit: 500}
	for {
		items, next, err := list(page)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		page.Cursor = next
	}
}

// EventFilter selects events; empty fields match everything.
type EventFilter struct {
	Page
	Type     string
	SourceID string
	Status   EventStatus
	Customer string
	// Since and Until bound the time received: [Since, Until).
	Since, Until time.Time
}

// ClaimRequest asks ClaimDue for work.
type ClaimRequest struct {
	Now   time.Time
	Limit int
	Lease time.Duration
	// PerDestination caps how many deliveries of one destination this claim
	// may take, so one slow destination cannot take every worker; 0: no cap
	// but Limit.
	PerDestination int
	// Room overrides PerDestination for destinations that already have
	// attempts in flight: the attempts each may still start. A destination
	// with no room is skipped.
	Room map[string]int
	// PerTenant caps how many deliveries of one tenant this claim may take,
	// so one tenant's backlog cannot fill a claim meant for every tenant;
	// 0: no cap but Limit.
	PerTenant int
	// TenantRoom overrides PerTenant for tenants that already have
	// deliveries in flight, by tenant id, as Room does for destinations. A
	// tenant with no room is skipped.
	TenantRoom map[string]int
}

// ListenClaimRequest asks ClaimListen for the work of one listen
// destination.
type ListenClaimRequest struct {
	TenantID      string
	DestinationID string
	Now           time.Time
	Limit         int
	Lease         time.Duration
	// KeepUntil is the destination's new ListenUntil, unless it is later
	// already.
	KeepUntil time.Time
}

// Claim is a leased delivery with everything needed to attempt it.
type Claim struct {
	Delivery  Delivery
	EventType string
	// ReceivedAt is the event's Event.ReceivedAt: a thin delivery says it.
	ReceivedAt  time.Time
	Destination Destination
	Body        []byte
	ContentType string
	// Hops is the event's Payload.Hops: the delivery carries one more.
	Hops int
	// Storage is how the event's payload is kept; the dispatcher passes it
	// on in the AttemptResult. Empty means StorageRetain.
	Storage PayloadStorage
	// Restricted is the tenant's restricted data policy as the store last
	// read it, and SubjectPaths are where the event's payload carries its
	// subjects, by type (see NewEvent.SubjectPaths): what is withheld from
	// a destination without a PersonalDataGrant.
	Restricted   RestrictedData
	SubjectPaths []SubjectPath
	// Pseudonyms are the tokens that replace the values at the
	// destination's Pseudonymize paths in Body, by path and value (see
	// internal/pseudonym.Key). The store mints them, and keeps what
	// resolves each back to its subject, as it hands out the claim; a
	// value without a token is never sent.
	Pseudonyms map[string]string
}

// AttemptResult is an attempt and what it does to its delivery: the
// dispatcher's account of one attempt, for RecordAttempts.
type AttemptResult struct {
	Attempt Attempt
	// EventType and Recovers are the claimed delivery's (Claim.EventType,
	// Delivery.Recovers): they decide the notices the attempt calls for.
	EventType string
	Recovers  bool
	// Storage is the claim's (Claim.Storage): a payload kept until
	// delivered goes when this attempt settles its event.
	Storage PayloadStorage
	// Status is the delivery's new status: DeliveryPending (retry at
	// NextAttemptAt), DeliverySucceeded or DeliveryExhausted.
	Status        DeliveryStatus
	NextAttemptAt time.Time
	// DisableDestination, when set, disables the destination with this reason
	// (DisabledGone after a 410).
	DisableDestination string
	// CountsForHealth says whether the attempt moves the destination's
	// health (its failures and the circuit breaker). An attempt that
	// failed for its payload's sake, not the destination's, does not.
	CountsForHealth bool
}

// AttemptRecorded is what RecordAttempts did with one AttemptResult.
type AttemptRecorded struct {
	// Err is why it was not recorded: ECONFLICT when the delivery was no
	// longer claimed at the attempt.
	Err error
	// Disabled is the reason when the attempt disabled its destination (a
	// 410, or failing too long); sluice.destination.disabled was then
	// published with it.
	Disabled string
	// Unclaimed is set when the notices stored with the attempt have
	// deliveries due now that a dispatcher must claim.
	Unclaimed bool
}

// QueueStats is the state of the delivery queue at one time.
type QueueStats struct {
	Due       int // pending, due, not claimed
	Scheduled int // pending, due later (a retry, a first delay, a rate-limited start)
	InFlight  int // claimed: being attempted, or queued in a dispatcher
	// Destinations counts destinations by State.
	Destinations map[string]int
}
