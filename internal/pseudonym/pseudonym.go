// Package pseudonym mints the pseudonymous tokens that replace the values
// at a destination's pseudonymize paths, and finds and replaces those
// values in a JSON payload (docs/privacy.md, "Pseudonymous tokens").
//
// A token is a keyed hash of the value's data subject, under a key derived
// for one destination from the tenant's subject key: the same subject gets
// the same token at one destination every time, and unrelated tokens at two
// destinations, so that two destinations cannot join what they receive on
// it. Nothing here keeps or logs a value.
package pseudonym

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"github.com/sluicehq/sluice/internal/subject"
)

// Prefix starts every token.
const Prefix = "pst_"

// tokenBytes is how much of the keyed hash a token keeps: 160 bits, far
// beyond any collision among one destination's subjects.
const tokenBytes = 20

// TokenLen is the length of a token, prefix included.
var TokenLen = len(Prefix) + encoding.EncodedLen(tokenBytes)

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// GenericType is the subject type of a value whose path gives no type
// (a path that is no valid subject type even once rewritten).
const GenericType = "pseudonym"

// DestinationKey derives a destination's token key from the tenant's
// subject key (seal.Keyring.SubjectKey): a different key, and so
// unrelated tokens, for every destination.
func DestinationKey(tenantSubjectKey []byte, destinationID string) []byte {
	m := hmac.New(sha256.New, tenantSubjectKey)
	m.Write([]byte("sluice pseudonym\x00"))
	m.Write([]byte(destinationID))
	return m.Sum(nil)
}

// Token is the token of a normalised subject under a destination's key
// (DestinationKey): "pst_" and 32 base32 characters.
func Token(destinationKey []byte, s subject.Subject) string {
	m := hmac.New(sha256.New, destinationKey)
	m.Write([]byte(s.Type))
	m.Write([]byte{0})
	m.Write([]byte(s.Value))
	return Prefix + encoding.EncodeToString(m.Sum(nil)[:tokenBytes])
}

// Valid reports whether t has the shape of a token.
func Valid(t string) bool {
	if len(t) != TokenLen || !strings.HasPrefix(t, Prefix) {
		return false
	}
	_, err := encoding.DecodeString(t[len(Prefix):])
	return err == nil
}

// SubjectOf returns the normalised data subject of a value found at path:
// an email address is an "email" subject, whatever the path; any other
// value's type is the path, lower-cased, with '.' and every character a
// subject type cannot hold written as '_' ("user.id" is "user_id"), cut to
// subject.MaxTypeLen. The error, from subject.Normalize, names no value.
func SubjectOf(path, value string) (subject.Subject, error) {
	if strings.IndexByte(value, '@') >= 0 || strings.Contains(value, "%40") {
		if e, err := subject.Normalize(subject.Subject{Type: "email", Value: value}); err == nil {
			if found := subject.Emails([]byte(e.Value), "text/plain"); len(found) == 1 && found[0] == e.Value {
				return e, nil
			}
		}
	}
	return subject.Normalize(subject.Subject{Type: TypeOfPath(path), Value: value})
}

// TypeOfPath is the subject type SubjectOf gives a value at path that is
// not an email address.
func TypeOfPath(path string) string {
	b := make([]byte, 0, min(len(path), subject.MaxTypeLen))
	for i := 0; i < len(path) && len(b) < subject.MaxTypeLen; i++ {
		c := path[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			c = '_'
		}
		b = append(b, c)
	}
	if subject.CheckType(string(b)) != nil {
		return GenericType
	}
	return string(b)
}
