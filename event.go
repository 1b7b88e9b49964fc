package sluice

import (
	"net/http"
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

// Payload states.
const (
	PayloadRetained = "retained"
	PayloadExpired  = "expired"
	PayloadErased   = "erased"
)

// Event statuses, summarising the event's deliveries.
const (
	EventPending   = "pending"   // some delivery is still pending
	EventDelivered = "delivered" // every delivery that ended, succeeded
	EventFailed    = "failed"    // none pending, at least one exhausted
	EventCancelled = "cancelled" // none pending, every delivery cancelled or expired
	EventUnrouted  = "unrouted"  // no destination matched
)

// Event is an event's metadata, kept for the metadata retention. Its payload
// is stored apart (Payload) and kept for a shorter time.
type Event struct {
	ID           string
	TenantID     string
	Type         string
	Direction    Direction
	SourceID     string // empty for published events
	Status       string
	PayloadState string
	ReceivedAt   time.Time
}

// Payload is an event's body and what is needed to deliver it again.
type Payload struct {
	Body        []byte
	ContentType string
	Headers     http.Header // filtered inbound headers; nil for published events
	ExpiresAt   time.Time
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

	// Claim, when set, has CreateEvent create the deliveries it may already
	// claimed for Claim.Lease, as ClaimDue would claim them (see
	// ClaimedAtBirth), and return them in Claims: the dispatcher of the
	// process that stored the event sends them without a claim's round
	// trip through the store.
	Claim *ClaimRequest
	// Claims is set by CreateEvent: the deliveries it created claimed.
	Claims []*Claim
	// Unclaimed is set by CreateEvent when it also made deliveries, to
	// enabled destinations, that a dispatcher must claim.
	Unclaimed bool

	// Observations are facts about the event's shape for the store to
	// keep if it has not yet (see Observation); the caller may leave out
	// those it knows the store has. One of kind ObservedType must lead
	// any others.
	Observations []Observation
	// Drift is set by CreateEvent: the field paths it observed for the
	// first time for a source and event type seen before.
	Drift []string
}

// Kinds of Observation.
const (
	ObservedType    = "type"    // the event type was seen; Name is empty
	ObservedField   = "field"   // a JSON field path of its payloads
	ObservedSubject = "subject" // a subject type indexed for it
)

// Observation is one fact about the shape of a source's events of one
// type: never a value.
type Observation struct {
	SourceID  string // empty for published events
	EventType string
	Kind      string
	Name      string
	FirstSeen time.Time
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryExhausted = "exhausted"
	DeliveryCancelled = "cancelled"
	DeliveryExpired   = "expired"
)

// Delivery is one event going to one destination.
type Delivery struct {
	ID            string
	TenantID      string
	EventID       string
	DestinationID string
	Status        string
	Attempts      int
	NextAttemptAt time.Time // zero unless pending
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Recovers is set on a delivery made by Recover, or by Replay to a
	// destination where the event's delivery was exhausted: its success is
	// announced as sluice.delivery.recovered.
	Recovers bool
}

// Attempt outcomes.
const (
	AttemptSucceeded = "succeeded"
	AttemptFailed    = "failed"
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
	Outcome       string
	HTTPStatus    int // 0 when no response arrived
	Duration      time.Duration
	Error         string // a class such as "timeout" or "http_status"; empty on success
	At            time.Time
}
