package sluice

import (
	"context"
	"strings"
	"time"
)

// A tenant's customers are the people the tenant sends webhooks to. A
// destination or an event may belong to one (Destination.Customer,
// Event.Customer): a customer's destination receives only that customer's
// events, while a destination of no customer receives every customer's
// events of its types, as the tenant's own.

// MaxCustomerLen is the longest customer id, in bytes.
const MaxCustomerLen = 128

// ValidateCustomer accepts a customer id: empty (no customer), or 1 to
// MaxCustomerLen letters, digits and "_-.:". The id is the tenant's own
// opaque reference to its customer, kept with the metadata, so it must not
// be an e-mail address or a name. It returns an EINVALID *Error naming the
// field "customer".
func ValidateCustomer(c string) error {
	if len(c) > MaxCustomerLen {
		return Errorf(EINVALID, "customer: at most %d bytes", MaxCustomerLen)
	}
	if strings.ContainsFunc(c, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_-.:", r))
	}) {
		return Errorf(EINVALID, "customer: only letters, digits and _ - . : (use your own id for the customer, not an e-mail address)")
	}
	return nil
}

// Receives reports whether e is routed to d: d matches its type and source
// (Matches), and d belongs to no customer or to e's.
func (d *Destination) Receives(e *Event) bool {
	return (d.Customer == "" || d.Customer == e.Customer) && d.Matches(e.Type, e.SourceID)
}

// TestEventType is the type of the event SendTestEvent delivers to one
// destination, whatever types it subscribes to.
const TestEventType = OperationalPrefix + "test"

// PortalSession lets one of a tenant's customers, in a browser, see and
// manage that customer's destinations and their deliveries, and nothing
// else of the tenant. An admin key creates it with a sign-in link that
// works once, for minutes (LinkExpiresAt); using the link starts the
// session, which lasts TTL. Everything done in it is audited with the
// portal session's id as the actor.
type PortalSession struct {
	ID       string // PrefixPortal
	TenantID string
	Scope    PortalScope
	// CreatedBy is the key that created the link.
	CreatedBy string
	CreatedAt time.Time
	// LinkHash is the SHA-256 of the sign-in link's token (HashToken): the
	// token itself is kept nowhere. The store forgets it at sign-in.
	LinkHash []byte
	// LinkTTL is how long the link works, unused, from its creation; the
	// store sets LinkExpiresAt from it.
	LinkTTL       time.Duration
	LinkExpiresAt time.Time
	// TTL is how long the session lasts from sign-in.
	TTL time.Duration
	// SignedInAt is when the link was used, and ExpiresAt when the session
	// ends (SignedInAt + TTL); both zero before.
	SignedInAt, ExpiresAt time.Time
	// CSRF is the token every form of the signed-in session carries.
	CSRF string
	// Flash is the outcome of the session's last action, waiting to be
	// shown once; "" when none is.
	Flash string
}

// PortalScope is what a portal session may see and do.
type PortalScope struct {
	// Customer is the tenant's id of the customer: the portal shows and
	// changes only destinations of this customer.
	Customer string
	// Payloads lets the portal show the payloads of events delivered to the
	// customer's destinations; without it the portal shows none.
	Payloads bool
}

// PortalSignInPath is where a portal's sign-in link leads, followed by its
// token.
const PortalSignInPath = "/portal/start/"

// Lifetimes of portal links and sessions.
const (
	DefaultPortalLinkTTL    = 5 * time.Minute
	MaxPortalLinkTTL        = time.Hour
	DefaultPortalSessionTTL = time.Hour
	MaxPortalSessionTTL     = 24 * time.Hour
)

// Validate checks a new portal session's scope and lifetimes: EINVALID
// naming the field.
func (p *PortalSession) Validate() error {
	if p.Scope.Customer == "" {
		return Errorf(EINVALID, "scope.customer: required")
	}
	if err := ValidateCustomer(p.Scope.Customer); err != nil {
		return Errorf(EINVALID, "scope.%s", err.(*Error).Message)
	}
	if p.LinkTTL < time.Second || p.LinkTTL > MaxPortalLinkTTL {
		return Errorf(EINVALID, "link_ttl_seconds: 1 to %d", int(MaxPortalLinkTTL/time.Second))
	}
	if p.TTL < time.Second || p.TTL > MaxPortalSessionTTL {
		return Errorf(EINVALID, "session_ttl_seconds: 1 to %d", int(MaxPortalSessionTTL/time.Second))
	}
	return nil
}

// PortalStore keeps portal sessions; Store embeds it.
type PortalStore interface {
	// CreatePortalSession stores a new portal session with its link's
	// hash, its ID, CreatedAt, CreatedBy (the actor) and LinkExpiresAt
	// set, audited as portal_session.create: EINVALID (see Validate),
	// ENOTFOUND for an unknown tenant.
	CreatePortalSession(ctx context.Context, p *PortalSession) error
	// SignInPortal uses a sign-in link: the portal session whose link has
	// the hash, unused and unexpired, is signed in under idHash (the
	// SHA-256 of the id its cookie carries, HashSessionID) with the CSRF
	// token, and returned. ENOTFOUND when the link is unknown, used or
	// expired, all alike. Audited as portal_session.sign_in, with the
	// session as the actor.
	SignInPortal(ctx context.Context, linkHash, idHash []byte, csrf string) (*PortalSession, error)
	// PortalSession returns the signed-in session stored under idHash,
	// with its waiting flash: ENOTFOUND if there is none, or it has
	// expired or been deleted.
	PortalSession(ctx context.Context, idHash []byte) (*PortalSession, error)
	// DeletePortalSession ends one of the tenant's portal sessions, signed
	// in or not (a revocation, or signing out): ENOTFOUND. Audited as
	// portal_session.delete.
	DeletePortalSession(ctx context.Context, tenantID, id string) error
	// SetPortalFlash leaves a message for the session's next page, as
	// SessionStore.SetSessionFlash; TakePortalFlash takes it once, as
	// SessionStore.TakeSessionFlash.
	SetPortalFlash(ctx context.Context, idHash []byte, message string) error
	TakePortalFlash(ctx context.Context, idHash []byte) (string, error)
}
