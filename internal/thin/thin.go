// Package thin issues and checks the fetch tokens of thin deliveries, and
// makes the thin event a thin destination is sent instead of a payload.
//
// A fetch token is stateless: base64url (no padding) of
//
//	version (1) | expiry, Unix seconds (8, big endian) | delivery id | MAC (32)
//
// where the MAC is HMAC-SHA256 under the fetch key (seal.Master.FetchKey)
// of everything before it. It is bound to one delivery, and so to its
// tenant, event and destination, and to its expiry; it carries nothing of
// the payload. Checking one costs a MAC and no lookup, so a flood of
// forged tokens never reaches the store.
package thin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// PathPrefix is where fetch URLs live: PathPrefix + token.
const PathPrefix = "/v1/fetch/"

const (
	tokenVersion = 1
	macSize      = sha256.Size
	headerSize   = 1 + 8
	// MaxTokenLength bounds what Open decodes: a delivery id is far
	// shorter than the 255 bytes it allows.
	MaxTokenLength = 512
)

// Grant is what a fetch token allows: reading the payload of the delivery
// with DeliveryID until ExpiresAt (whole seconds).
type Grant struct {
	DeliveryID string
	ExpiresAt  time.Time
}

// Token returns the fetch token of the grant, signed with key.
func Token(key []byte, g Grant) string {
	b := make([]byte, headerSize, headerSize+len(g.DeliveryID)+macSize)
	b[0] = tokenVersion
	binary.BigEndian.PutUint64(b[1:headerSize], uint64(g.ExpiresAt.Unix()))
	b = append(b, g.DeliveryID...)
	b = append(b, mac(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Open returns the grant of a token signed with key, or false for a token
// that is malformed, of another version, signed with another key, or
// altered. It does not check the expiry: Grant.Expired does. An empty key
// opens nothing.
func Open(key []byte, token string) (Grant, bool) {
	if len(key) == 0 || len(token) > MaxTokenLength {
		return Grant{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) <= headerSize+macSize || b[0] != tokenVersion {
		return Grant{}, false
	}
	signed, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	if !hmac.Equal(sum, mac(key, signed)) {
		return Grant{}, false
	}
	expires := int64(binary.BigEndian.Uint64(signed[1:headerSize]))
	return Grant{DeliveryID: string(signed[headerSize:]), ExpiresAt: time.Unix(expires, 0).UTC()}, true
}

// Expired reports whether the grant has ended at now.
func (g Grant) Expired(now time.Time) bool { return !now.Before(g.ExpiresAt) }

func mac(key, b []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(nil)
}

// Event is what a thin destination receives instead of the payload.
type Event struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	CreatedAt      time.Time `json:"created_at"`
	FetchURL       string    `json:"fetch_url"`
	FetchExpiresAt time.Time `json:"fetch_expires_at"`
}

// Issuer makes the thin events of a gateway reached at Base.
type Issuer struct {
	// Base is the gateway's base URL, without a trailing slash, such as
	// "https://hooks.example.com": fetch URLs are built on it.
	Base string
	// Key signs the fetch tokens (seal.Master.FetchKey). Without one no
	// thin event can be made.
	Key []byte
}

// Event returns the thin event of an attempt of the claimed delivery made
// at at, as JSON: its fetch URL lives the destination's fetch lifetime
// from at, rounded down to the second. It reports false when the issuer
// has no key or no base.
func (is Issuer) Event(c *sluice.Claim, at time.Time) ([]byte, bool) {
	if len(is.Key) == 0 || is.Base == "" {
		return nil, false
	}
	expires := time.Unix(at.Add(c.Destination.FetchLifetime()).Unix(), 0).UTC()
	token := Token(is.Key, Grant{DeliveryID: c.Delivery.ID, ExpiresAt: expires})
	body, err := json.Marshal(Event{ID: c.Delivery.EventID, Type: c.EventType, CreatedAt: c.ReceivedAt.UTC(),
		FetchURL: strings.TrimSuffix(is.Base, "/") + PathPrefix + token, FetchExpiresAt: expires})
	if err != nil {
		return nil, false // unreachable: strings and times always marshal
	}
	return body, true
}
