package sluice

import (
	"net/http"
	"slices"
	"time"
)

// Direction says where an event came from.
type Direction string

// Directions: inbound events arrive at a source; outbound events are
// published through the API.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// PayloadState says whether an event's payload is still kept.
type PayloadState string

// Payload states.
const (
	PayloadRetained PayloadState = "retained"
	PayloadExpired  PayloadState = "expired" // purged at the end of its retention
	PayloadErased   PayloadState = "erased"  // deleted on request
	// PayloadNotStored: the payload was never written (payload storage
	// "none", or "until_delivered" with no destination matched).
	PayloadNotStored PayloadState = "not_stored"
)

// EventStatus summarises an event's deliveries (see EventStatusOf).
type EventStatus string

// Event statuses.
const (
	EventPending   EventStatus = "pending"   // some delivery is still pending
	EventDelivered EventStatus = "delivered" // every delivery that ended, succeeded
	EventFailed    EventStatus = "failed"    // none pending, at least one exhausted
	EventCancelled EventStatus = "cancelled" // none pending, every delivery cancelled or expired
	EventUnrouted  EventStatus = "unrouted"  // no destination matched
)

// EventStatuses lists every EventStatus, in the order EventStatusOf
// weighs them.
var EventStatuses = []EventStatus{EventPending, EventFailed, EventDelivered, EventCancelled, EventUnrouted}

// Valid reports whether s is a known event status.
func (s EventStatus) Valid() bool { return slices.Contains(EventStatuses, s) }

// Event is an event's metadata, kept for the metadata retention. Its payload
// is stored apart (Payload) and kept for a shorter time.
type Event struct {
	ID           string
	TenantID     string
	Type         string
	Direction    Direction
	SourceID     string // empty for published events
	Customer     string // the tenant's customer it is for; empty for all (see Destination.Receives)
	Status       EventStatus
	PayloadState PayloadState
	ReceivedAt   time.Time
}

// Payload is an event's body and what is needed to deliver it again.
type Payload struct {
	Body        []byte
	ContentType string
	Headers     http.Header // filtered inbound headers; nil for published events
	ExpiresAt   time.Time
	// Hops is how many gateways the event had passed through when it
	// arrived (HeaderHops); its deliveries say one more.
	Hops int
}

// NewEvent is what CreateEvent stores: the event, its payload, and the key
// that makes a repeated request return the first event.
type NewEvent struct {
	Event    Event
	DedupKey string // empty: no deduplication
	Payload  Payload
	// Subjects are the normalised data subjects the event is about; the
	// store indexes their keyed hashes so an erasure finds the event.
	Subjects []Subject
	// SubjectPaths are where the event's source finds its subjects in its
	// payload (Source.SubjectPaths): the store keeps them, with the paths
	// where it finds the values of Subjects, so that the values of a
	// restricted subject type (RestrictedData) can be withheld.
	SubjectPaths []SubjectPath

	// Storage and Retention are the source's overrides of the tenant's
	// payload storage and of its retention once delivered; zero keeps the
	// tenant's. A Payload.ExpiresAt set by the caller fixes the payload's
	// expiry instead, whether delivered or not.
	Storage   PayloadStorage
	Retention time.Duration

	// Claim, when set, has CreateEvent create the deliveries it may already
	// claimed for Claim.Lease, as ClaimDue would claim them, and return
	// them in EventCreated.Claims: the dispatcher of the process that
	// stored the event sends them without a claim's round trip through the
	// store.
	Claim *ClaimRequest
	// To, when set, routes the event to this one destination alone,
	// whatever its types (a test event); else to every destination that
	// Receives it.
	To string
}

// EventCreated is what CreateEvent did.
type EventCreated struct {
	// Event is the event stored or, when Duplicate, the first event stored
	// under the same dedup key.
	Event     *Event
	Duplicate bool
	// Storage is how the payload is kept. With StorageNone the event is
	// not durable: its deliveries are made from this process's memory.
	Storage PayloadStorage
	// Claims are the deliveries created claimed under NewEvent.Claim.
	Claims []*Claim
	// Unclaimed is set when deliveries to enabled destinations were
	// created, by the event or by the notices it caused, that a
	// dispatcher must claim.
	Unclaimed bool
}

// ObservationKind says what an Observation tells.
type ObservationKind string

// Kinds of Observation.
const (
	ObservedType    ObservationKind = "type"    // the event type was seen; Name is empty
	ObservedField   ObservationKind = "field"   // a JSON field path of its payloads
	ObservedSubject ObservationKind = "subject" // a subject type indexed for it
)

// Observation is one fact about the shape of a source's events of one
// type: never a value.
type Observation struct {
	SourceID  string // empty for published events
	EventType string
	Kind      ObservationKind
	Name      string
	FirstSeen time.Time
}

// DeliveryStatus is where a delivery is: pending until it ends in one of
// the other statuses.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryExhausted DeliveryStatus = "exhausted" // every attempt failed
	DeliveryCancelled DeliveryStatus = "cancelled" // its payload was erased, or its destination deleted
	DeliveryExpired   DeliveryStatus = "expired"   // its payload's retention ended first
)

// EventStatusOf is the status of an event whose deliveries have these
// statuses: pending while any is, else failed if any was exhausted, else
// delivered if any succeeded, else cancelled, or unrouted without any.
func EventStatusOf(deliveries []DeliveryStatus) EventStatus {
	has := func(s DeliveryStatus) bool { return slices.Contains(deliveries, s) }
	switch {
	case has(DeliveryPending):
		return EventPending
	case has(DeliveryExhausted):
		return EventFailed
	case has(DeliverySucceeded):
		return EventDelivered
	case len(deliveries) > 0:
		return EventCancelled
	}
	return EventUnrouted
}

// Delivery is one event going to one destination.
type Delivery struct {
	ID            string
	TenantID      string
	EventID       string
	DestinationID string
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time // zero unless pending
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Recovers is set on a delivery made by Recover, or by Replay to a
	// destination where the event's delivery was exhausted: its success is
	// announced as sluice.delivery.recovered.
	Recovers bool
}

// AttemptOutcome is whether an attempt succeeded: a 2xx answer.
type AttemptOutcome string

// Attempt outcomes.
const (
	AttemptSucceeded AttemptOutcome = "succeeded"
	AttemptFailed    AttemptOutcome = "failed"
)

// Attempt is one HTTP try of a delivery. It records the outcome, never the
// request or response body.
type Attempt struct {
	ID            string
	TenantID      string
	DeliveryID    string
	EventID       string
	DestinationID string
	Number        int // 1 for the first attempt
	Outcome       AttemptOutcome
	HTTPStatus    int // 0 when no response arrived
	Duration      time.Duration
	Error         string // a class such as "timeout" or "http_status"; empty on success
	At            time.Time
}
