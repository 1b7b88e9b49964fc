// Package webhook receives webhooks signed the Standard Webhooks way, as
// Sluice signs its deliveries: it checks the webhook-id, webhook-timestamp
// and webhook-signature headers (or their svix-* twins) against one or more
// "whsec_" secrets, and its Handler wraps an http.Handler so that only
// verified requests reach it, each webhook-id once.
//
// The package uses only the standard library, so it can be copied into a
// project as it is.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a timestamp may be from the receiver's clock,
// either way, when Verifier.Tolerance is zero: the Standard Webhooks
// libraries' default.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix starts a secret as Sluice shows it; the base64 key follows.
const SecretPrefix = "whsec_"

// Bounds of a secret's key, in bytes, as the Standard Webhooks
// specification sets them.
const (
	minKeyBytes = 24
	maxKeyBytes = 64
)

// Header names, in the Standard Webhooks spelling and the svix spelling.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"

	svixHeaderID        = "Svix-Id"
	svixHeaderTimestamp = "Svix-Timestamp"
	svixHeaderSignature = "Svix-Signature"
)

// Errors from Verify, told apart with errors.Is. Their texts never contain
// a secret, a signature or the body, so they are safe to log and to answer
// with.
var (
	// ErrMissingHeaders: the id, timestamp or signature header is absent
	// or empty, in both spellings.
	ErrMissingHeaders = errors.New("webhook: webhook-id, webhook-timestamp or webhook-signature header missing")
	// ErrBadTimestamp: the timestamp is not unix seconds in plain decimal.
	ErrBadTimestamp = errors.New("webhook: timestamp is not unix seconds")
	// ErrTooOld: the timestamp is further in the past than the tolerance;
	// a replayed request, or a clock far behind.
	ErrTooOld = errors.New("webhook: timestamp too old")
	// ErrTooNew: the timestamp is further in the future than the
	// tolerance; the sender's clock is ahead.
	ErrTooNew = errors.New("webhook: timestamp too new")
	// ErrNoMatch: no v1 signature in the header was made with any of the
	// secrets over this id, timestamp and body.
	ErrNoMatch = errors.New("webhook: no signature matches")
	// ErrBadSecret: a configured secret is not "whsec_" (optional)
	// followed by standard base64 of 24 to 64 bytes, or none is
	// configured. It is the receiver's mistake, not the sender's.
	ErrBadSecret = errors.New("webhook: secret must be whsec_ followed by base64 of 24 to 64 bytes")
)

// Message is what a verified request says about itself.
type Message struct {
	// ID is the webhook-id: the same on every attempt to deliver one
	// event, so the key to drop duplicates by.
	ID string
	// Timestamp is the webhook-timestamp: when this attempt was signed.
	Timestamp time.Time
}

// Verify checks a request's headers and body against one secret, with the
// default tolerance. It returns nil, or one of the Err values of this
// package (possibly wrapped).
func Verify(secret string, h http.Header, body []byte) error {
	v := Verifier{Secrets: []string{secret}}
	_, err := v.Verify(h, body)
	return err
}

// Verifier checks signatures against a set of secrets. The zero Tolerance
// and a nil Now take the defaults. A Verifier is safe for concurrent use
// as long as its fields are not changed.
type Verifier struct {
	// Secrets are the "whsec_" secrets any of which may have signed. During
	// a rotation, list the new secret and the old one: the sender signs
	// with both while the grace period lasts, and either matching is
	// enough.
	Secrets []string
	// Tolerance is how far the timestamp may be from Now, either way;
	// DefaultTolerance when zero.
	Tolerance time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// NewVerifier returns a Verifier for secrets with the default tolerance,
// or ErrBadSecret (wrapped, naming the position, not the secret) if one of
// them is malformed or none is given. Use it to fail at start rather than
// on the first request.
func NewVerifier(secrets ...string) (*Verifier, error) {
	v := &Verifier{Secrets: secrets}
	if _, err := v.keys(); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks a request's headers and body. It reads webhook-id,
// webhook-timestamp and webhook-signature, or svix-id, svix-timestamp and
// svix-signature when the first three are not all present; the timestamp
// must be within the tolerance of now; and one "v1,<base64>" entry of the
// signature header must be the HMAC-SHA256, under one of the secrets, of
// "id.timestamp.body". The comparison takes the same time wherever the
// signatures differ.
//
// It returns the message's id and timestamp, or ErrBadSecret,
// ErrMissingHeaders, ErrBadTimestamp, ErrTooOld, ErrTooNew or ErrNoMatch
// (checked in that order).
func (v *Verifier) Verify(h http.Header, body []byte) (Message, error) {
	keys, err := v.keys()
	if err != nil {
		return Message{}, err
	}
	id, ts, sigs, ok := headers(h, HeaderID, HeaderTimestamp, HeaderSignature)
	if !ok {
		if id, ts, sigs, ok = headers(h, svixHeaderID, svixHeaderTimestamp, svixHeaderSignature); !ok {
			return Message{}, ErrMissingHeaders
		}
	}
	unix, err := parseUnix(ts)
	if err != nil {
		return Message{}, err
	}
	msg := Message{ID: id, Timestamp: time.Unix(unix, 0)}
	if err := v.checkTime(msg.Timestamp); err != nil {
		return Message{}, err
	}
	want := make([][]byte, len(keys))
	for i, k := range keys {
		want[i] = sign(k, id, ts, body)
	}
	// Every entry is compared with every key, whatever matched before, so
	// the time taken says nothing about which one did.
	matched := false
	var got [2 * sha256.Size]byte
	for entry := range strings.FieldsSeq(sigs) {
		b64, ok := strings.CutPrefix(entry, "v1,")
		if !ok || base64.StdEncoding.DecodedLen(len(b64)) > len(got) {
			continue // another scheme, or far too long to be an HMAC-SHA256
		}
		n, err := base64.StdEncoding.Decode(got[:], []byte(b64))
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got[:n], w) {
				matched = true
			}
		}
	}
	if !matched {
		return Message{}, ErrNoMatch
	}
	return msg, nil
}

// keys decodes the secrets.
func (v *Verifier) keys() ([][]byte, error) {
	if len(v.Secrets) == 0 {
		return nil, fmt.Errorf("%w (none is configured)", ErrBadSecret)
	}
	keys := make([][]byte, len(v.Secrets))
	for i, s := range v.Secrets {
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if err != nil || len(k) < minKeyBytes || len(k) > maxKeyBytes {
			// The position only: the text must not carry the secret.
			return nil, fmt.Errorf("%w (secret %d of %d)", ErrBadSecret, i+1, len(v.Secrets))
		}
		keys[i] = k
	}
	return keys, nil
}

// checkTime returns ErrTooOld or ErrTooNew for a timestamp outside the
// tolerance.
func (v *Verifier) checkTime(ts time.Time) error {
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	switch age := now().Sub(ts); {
	case age > tolerance:
		return ErrTooOld
	case age < -tolerance:
		return ErrTooNew
	}
	return nil
}

// headers returns the three named headers, and whether all are present.
// Signatures split over several header lines count as one list.
func headers(h http.Header, idName, tsName, sigName string) (id, ts, sigs string, ok bool) {
	id, ts, sigs = h.Get(idName), h.Get(tsName), strings.Join(h.Values(sigName), " ")
	return id, ts, sigs, id != "" && ts != "" && strings.TrimSpace(sigs) != ""
}

// parseUnix reads a timestamp header: decimal digits only, no sign and no
// leading zero, so that the text signed over is the one number it means.
func parseUnix(ts string) (int64, error) {
	if len(ts) > 1 && ts[0] == '0' {
		return 0, ErrBadTimestamp
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, ErrBadTimestamp
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, ErrBadTimestamp
	}
	return unix, nil
}

// sign returns the HMAC-SHA256 of "id.timestamp.body" under key.
func sign(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
