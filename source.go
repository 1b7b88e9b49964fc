package sluice

import (
	"net/netip"
	"time"
)

// Source is an inbound URL (/in/{id}) that a provider posts webhooks to,
// with the rule that verifies them and where to find what Sluice needs in
// what they send.
type Source struct {
	ID           string
	TenantID     string
	Name         string
	Verification Verification
	// EventTypePath and EventIDPath locate the event type and the provider's
	// event id: a JSON dot path into the body ("data.object.id") or
	// "header:<Name>". Empty means the verification type's default.
	EventTypePath string
	EventIDPath   string
	SubjectPaths  []SubjectPath
	AllowedIPs    []netip.Prefix // empty: any address
	// RateLimitPerSecond bounds accepted requests; 0 is unlimited.
	RateLimitPerSecond int
	// PayloadRetention overrides the tenant's payload retention once
	// delivered (Retention.Delivered); 0 keeps it.
	PayloadRetention time.Duration
	// PayloadStorage overrides the tenant's payload storage; empty keeps
	// it.
	PayloadStorage PayloadStorage
	// Processing is the source's entry in the records of processing.
	Processing Processing
	Enabled    bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SubjectPath says where in an inbound event a data subject is, and what
// type of subject it is ("email", "customer_id", …).
type SubjectPath struct {
	Path string
	Type string
}

// Verification types (docs/api.md, "Sources and ingest").
const (
	VerifyNone             = "none"
	VerifyStripe           = "stripe"
	VerifyGitHub           = "github"
	VerifyShopify          = "shopify"
	VerifyStandardWebhooks = "standard-webhooks"
	VerifyHMAC             = "hmac"
	VerifyBasic            = "basic"
	VerifyToken            = "token"
)

// Verification is how a source checks that a request comes from its
// provider. Which fields apply depends on Type.
type Verification struct {
	Type string
	// Secret is the signing secret (stripe, github, shopify,
	// standard-webhooks, hmac) or the expected token (token).
	Secret string
	// Header carries the signature (hmac) or the token (token).
	Header string
	// Algorithm is sha256, sha512 or sha1 (hmac).
	Algorithm string
	// Encoding is hex or base64 (hmac).
	Encoding string
	// Prefix comes before the signature in Header, such as "sha256=" (hmac).
	Prefix string
	// Username and Password are the expected Basic credentials (basic).
	Username string
	Password string
}

// UnknownEventType is the type of an inbound event whose type cannot be
// found at its source's event type path.
const UnknownEventType = "unknown"
