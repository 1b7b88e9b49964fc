// Package subject normalises data subject identifiers, hashes them into the
// subject index under a per-tenant key, and finds email addresses in
// payloads of every kind (docs/privacy.md, "Erasure").
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

	"golang.org/x/text/unicode/norm"

	"github.com/sluicehq/sluice/internal/urlform"
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
//     match whatever case a payload happened to use. It is then put in
//     Unicode normalisation form C (RFC 6532 §3.1), so "jürgen" typed with
//     a combining diaeresis is the "jürgen" a payload spells with one code
//     point, and every internationalised label of the domain is written
//     as its A-label ("bücher" as "xn--bcher-kva"): an internationalised
//     address has one value whichever way it was written. ASCII addresses
//     are only lower-cased.
//     A value without an '@' but with "%40" ("ada%40example.com", as copied
//     from a URL) is percent-decoded first;
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
	if typ == typeEmail {
		v = percentDecodedAddress(v)
	}
	if v == "" {
		return Subject{}, errValueRequired
	}
	switch typ {
	case typeEmail:
		v = foldEmail(v)
		if at := strings.LastIndexByte(v, '@'); at >= 0 {
			v = v[:at+1] + aLabels(v[at+1:])
		}
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

// CheckType reports whether t is a valid subject type, with the error
// Normalize would give for it (EINVALID to an API caller). Every type
// Normalize accepts is valid, whatever values it is later given: "phone"
// included.
func CheckType(t string) error {
	_, err := normalizeType(t)
	return err
}

// foldEmail lower-cases an email address and puts it in NFC, in that
// order: lower-casing can decompose ("İ" becomes "i̇"), and composing never
// makes a letter that lower-cases again (true of every code point alone and
// with common combining marks; FuzzNormalize holds Normalize idempotent).
func foldEmail(v string) string {
	v = strings.ToLower(v)
	if !isASCII(v) && !norm.NFC.IsNormalString(v) {
		v = norm.NFC.String(v)
	}
	return v
}

// percentDecodedAddress decodes v when it is an address written with %40
// for its '@' and no '@' of its own; anything else, and a decoding that is
// not UTF-8, is returned as it is. The result is trimmed again, as Normalize
// trims every value.
func percentDecodedAddress(v string) string {
	if strings.IndexByte(v, '@') >= 0 || !strings.Contains(v, "%40") {
		return v
	}
	d := string(urlform.Unescape(nil, []byte(v), false))
	if !utf8.ValidString(d) {
		return v
	}
	return strings.TrimSpace(d)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
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
