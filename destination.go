package sluice

import (
	"slices"
	"strings"
	"time"
)

// Destination is a subscriber endpoint: where matching events are delivered,
// signed with its secret.
type Destination struct {
	ID                 string
	TenantID           string
	Name               string
	URL                string
	EventTypes         []string // patterns: "*", "prefix.*" or an exact type
	SourceIDs          []string // empty: events from any source, and published events
	Fields             []string // nil: the whole body; else a JSON field allowlist
	RateLimitPerSecond int      // 0: unlimited
	Secret             string   // "whsec_" + base64 of the signing key
	// Customer is the tenant's customer the destination belongs to: it
	// receives only that customer's events, and that customer's portal
	// manages it. Empty: the tenant's own, receiving every customer's.
	Customer string
	// PreviousSecret still signs, beside Secret, until PreviousSecretUntil:
	// the grace period of a rotation. Empty when there is none.
	PreviousSecret      string
	PreviousSecretUntil time.Time
	Enabled             bool
	DisabledReason      string // set when !Enabled: DisabledManual, DisabledGone, DisabledFailing

	// What the destination is sent beyond its allowlist (see exposure.go).

	// Delivery is DeliveryFull (empty reads as full) or DeliveryThin.
	Delivery string
	// FetchTTL is how long a thin delivery's fetch URL works; 0 means
	// DefaultFetchTTL (see FetchLifetime).
	FetchTTL time.Duration
	// Pseudonymize lists the field paths whose values are replaced, before
	// signing, by a token stable per destination and subject.
	Pseudonymize []string
	// PersonalData declares the destination may receive what its tenant
	// restricts as personal data.
	PersonalData PersonalDataGrant
	// Processing is the destination's entry in the records of processing.
	Processing Processing
	// Headers are sent with every delivery. Headers, Auth and ClientCert
	// are sealed at rest, as the secret is.
	Headers    map[string]string
	Auth       DestinationAuth
	ClientCert ClientCertificate
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// Kind says how deliveries reach the destination: KindHTTP (the
	// dispatcher POSTs them to URL) or KindListen (a connected `sluice
	// listen` fetches them; URL is empty). Empty means KindHTTP.
	Kind string
	// ListenUntil is when a listen destination goes unless its listener
	// asks for deliveries again before; zero for KindHTTP. The store
	// keeps it: UpdateDestination does not write it.
	ListenUntil time.Time

	// Health, kept by the store as attempts are recorded (see Health);
	// UpdateDestination does not write it.

	// Failures counts the failed attempts since the last success.
	Failures int
	// FailingSince is when the first of those failures started; zero
	// after a success.
	FailingSince time.Time
	// PausedUntil is set while the circuit breaker is open: no delivery
	// starts before it, and after it one probe goes alone until an attempt
	// succeeds. Zero when the circuit is closed.
	PausedUntil time.Time
}

// Kinds of destination.
const (
	// KindHTTP is delivered to by the dispatcher, an HTTP POST to its URL.
	KindHTTP = "http"
	// KindListen is temporary and delivered only to the `sluice listen`
	// that created it, over the connection that command opens: no
	// dispatcher ever attempts it, and nothing connects to an address of
	// its own. It lasts while it is kept alive (ListenUntil).
	KindListen = "listen"
)

// Listening reports whether d is a listen destination (KindListen).
func (d *Destination) Listening() bool { return d.Kind == KindListen }

// Lapsed reports whether d is a listen destination that its listener did
// not keep alive until t: no new delivery goes to it, and it is deleted.
func (d *Destination) Lapsed(t time.Time) bool { return d.Listening() && !d.ListenUntil.After(t) }

// Reasons a destination is disabled.
const (
	DisabledManual  = "manual"
	DisabledGone    = "gone"
	DisabledFailing = "failing"
)

// Destination states, derived from the destination's fields.
const (
	StateActive   = "active"
	StatePaused   = "paused"
	StateDisabled = "disabled"
)

// SigningSecrets returns the secrets that sign a delivery at t: the
// current one, and the previous one while its grace period lasts.
func (d *Destination) SigningSecrets(t time.Time) []string {
	if d.PreviousSecret != "" && t.Before(d.PreviousSecretUntil) {
		return []string{d.Secret, d.PreviousSecret}
	}
	return []string{d.Secret}
}

// State returns the destination's derived state.
func (d *Destination) State() string {
	switch {
	case !d.Enabled:
		return StateDisabled
	case !d.PausedUntil.IsZero():
		return StatePaused
	default:
		return StateActive
	}
}

// Matches reports whether an event of eventType from sourceID (empty for a
// published event) is routed to d. A disabled destination still matches: its
// deliveries are created and wait.
func (d *Destination) Matches(eventType, sourceID string) bool {
	if len(d.SourceIDs) > 0 && !slices.Contains(d.SourceIDs, sourceID) {
		return false
	}
	for _, p := range d.EventTypes {
		if MatchEventType(p, eventType) {
			return true
		}
	}
	return false
}

// OperationalPrefix starts the types of the events Sluice publishes about
// itself. "*" does not match them; a destination names them to get them.
const OperationalPrefix = "sluice."

// MatchEventType reports whether pattern selects eventType. A pattern is "*"
// (every type but Sluice's own), "prefix.*" (types starting with "prefix."),
// or an exact type.
func MatchEventType(pattern, eventType string) bool {
	switch {
	case pattern == "*":
		return !strings.HasPrefix(eventType, OperationalPrefix)
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(eventType, pattern[:len(pattern)-1])
	default:
		return pattern == eventType
	}
}

// ValidEventTypePattern reports whether p is a pattern MatchEventType
// understands: non-empty, no spaces, and "*" only as the whole pattern or a
// final ".*".
func ValidEventTypePattern(p string) bool {
	if p == "" || len(p) > 255 || strings.ContainsAny(p, " \t\r\n") {
		return false
	}
	if p == "*" {
		return true
	}
	body := strings.TrimSuffix(p, ".*")
	return body != "" && !strings.Contains(body, "*")
}
