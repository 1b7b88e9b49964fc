// Package subject normalises data subject identifiers, hashes them into the
// subject index under a per-tenant key, and finds email addresses in JSON
// payloads (SPEC §3, "Privacy operations").
//
// The index never holds a subject value: only HMAC-SHA256 of the normalised
// value under a key derived from the master key, because a plain hash of an
// email address is brute-forced in minutes.
package subject

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Subject is a data subject identifier: a type ("email", "customer_id",
// "user_id", "phone", …) and a value.
type Subject struct {
	Type  string
	Value string
}

// Limits on a normalised subject, in bytes.
const (
	MaxTypeLen  = 64   // longest type
	MaxValueLen = 1024 // longest value
)

// Subject types whose values Normalize rewrites beyond trimming.
const (
	typeEmail = "email"
	typePhone = "phone"
)

// Normalize's errors. They name the field and never contain the value, so
// they are safe to show to an API caller (as sluice.EINVALID) and to log.
var (
	errTypeRequired  = errors.New("subject type: required")
	errTypeTooLong   = fmt.Errorf("subject type: at most %d bytes", MaxTypeLen)
	errTypeChars     = errors.New("subject type: only letters, digits, '_', '.' and '-'")
	errTypeUTF8      = errors.New("subject type: not valid UTF-8")
	errValueRequired = errors.New("subject value: required")
	errValueTooLong  = fmt.Errorf("subject value: at most %d bytes", MaxValueLen)
	errValueUTF8     = errors.New("subject value: not valid UTF-8")
	errPhoneDigits   = errors.New("subject value: a phone number needs at least one digit")
)

// Normalize returns s in the form that is hashed, so that every spelling of
// one subject lands on one index entry:
//
//   - the type is trimmed of Unicode space and lower-cased;
//   - the value is trimmed of Unicode space;
//   - for type "email" the whole value is lower-cased with strings.ToLower.
//     That includes the local part, which RFC 5321 lets a server treat as
//     case-sensitive; nobody does in practice, and an erasure request must
//     match whatever case a payload happened to use;
//   - for type "phone" every character but ASCII digits and a leading '+' is
//     removed ("+1 (555) 010-9999" → "+15550109999").
//
// Other types (customer_id, user_id, …) keep their value as given apart from
// trimming: their case may be significant.
//
// It returns an error, whose message names the field ("subject type: …",
// "subject value: …") and never contains the value, for invalid UTF-8, an
// empty or over-long type (MaxTypeLen), a type that is not [a-z0-9_.-]+
// after lower-casing, an empty (after trimming) or over-long (MaxValueLen,
// measured after normalising) value, and a phone number without digits.
// Callers report these as sluice.EINVALID. Normalize is idempotent.
func Normalize(s Subject) (Subject, error) {
	typ, err := normalizeType(s.Type)
	if err != nil {
		return Subject{}, err
	}
	if !utf8.ValidString(s.Value) {
		return Subject{}, errValueUTF8
	}
	v := strings.TrimSpace(s.Value)
	if v == "" {
		return Subject{}, errValueRequired
	}
	switch typ {
	case typeEmail:
		v = strings.ToLower(v)
	case typePhone:
		v = phoneDigits(v)
		if strings.TrimPrefix(v, "+") == "" {
			return Subject{}, errPhoneDigits
		}
	}
	// Lower-casing can lengthen a string ("Ⱥ" is 2 bytes, "ⱥ" 3), so the limit
	// applies to the result, which is what gets hashed and compared.
	if len(v) > MaxValueLen {
		return Subject{}, errValueTooLong
	}
	return Subject{Type: typ, Value: v}, nil
}

// normalizeType trims and lower-cases a subject type. Only ASCII is
// lower-cased: strings.ToLower would turn the Kelvin sign "K" into "k" and
// let a look-alike type through.
func normalizeType(t string) (string, error) {
	if !utf8.ValidString(t) {
		return "", errTypeUTF8
	}
	t = strings.TrimSpace(t)
	switch {
	case t == "":
		return "", errTypeRequired
	case len(t) > MaxTypeLen:
		return "", errTypeTooLong
	}
	var b [MaxTypeLen]byte
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return "", errTypeChars
		}
		b[i] = c
	}
	return string(b[:len(t)]), nil
}

// phoneDigits keeps the ASCII digits of v and a '+' that starts it.
func phoneDigits(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if '0' <= c && c <= '9' || c == '+' && i == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Hash is the subject's index entry: HMAC-SHA256 under key over
// type + "\x00" + value, 32 bytes. The separator cannot occur in a
// normalised type, so no two subjects share an input.
//
// Callers pass a Subject already returned by Normalize; Hash does not
// normalise again, so an un-normalised subject silently misses the index.
// key is the tenant's subject key, derived from the master key.
func Hash(key []byte, s Subject) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s.Type))
	m.Write([]byte{0})
	m.Write([]byte(s.Value))
	return m.Sum(nil)
}
