package sluice

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Tenant is an isolated account. Every other resource belongs to one.
type Tenant struct {
	ID   string
	Name string
	// Retention overrides the server's retention and payload storage for
	// the tenant's data; its zero fields keep the server's.
	Retention Retention
	// Restricted is what the tenant counts as personal data: only
	// destinations with a PersonalDataGrant receive it.
	Restricted RestrictedData
	CreatedAt  time.Time
}

// Role is what an API key may do within its tenant.
type Role string

// Roles. A viewer reads metadata only: no payloads, no writes.
const (
	RoleAdmin  Role = "admin"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleViewer }

// APIKey is a bearer credential. Only the SHA-256 of its token is stored: the
// token is 32 random bytes, so a fast hash is as strong as a slow one here.
type APIKey struct {
	ID        string
	TenantID  string
	Name      string
	Role      Role
	Operator  bool // the operator key: admin of the default tenant, may create tenants
	TokenHash []byte
	CreatedAt time.Time
	// ExpiresAt is when the key stops authenticating; zero: never.
	ExpiresAt time.Time
	// LastUsedAt is the minute the key last authenticated (see
	// KeyUseMinute); zero: never.
	LastUsedAt time.Time
}

// Expired reports whether the key has expired at now: from its ExpiresAt
// on, it authenticates nowhere.
func (k *APIKey) Expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// KeyUseMinute is the precision a key's last use is kept at: a busy key
// costs at most one write a minute, not one a request.
const KeyUseMinute = time.Minute

// TokenPrefix starts every API token, so a leaked token is recognisable.
const TokenPrefix = "sk_"

// NewToken returns a fresh API token: TokenPrefix and 32 random bytes in
// unpadded base64url.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken returns the value stored for a token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Actor is who makes a change: the tenant and key of the request. Stores
// record it in the audit log beside every change they make.
type Actor struct {
	TenantID string
	KeyID    string
}

type actorKey struct{}

// WithActor returns a context carrying the actor of a request.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx; the zero Actor means Sluice
// itself (the dispatcher, start-up).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// AuditEntry is one line of the audit trail: who did what to which resource,
// and when, and what it changed. It never carries a payload, a secret or a
// URL: Changes shows those as fingerprints.
type AuditEntry struct {
	ID         string
	TenantID   string
	ActorKeyID string // empty when Sluice itself acted
	Action     string // e.g. "destination.create", "key.delete", "event.payload_read"
	ResourceID string
	At         time.Time
	// Changes are the fields a configuration change changed, in the order
	// of the resource's fields; nil for an entry that changes no
	// configuration (a payload read, an erasure) and for entries written
	// before changes were recorded.
	Changes []Change
}
