package subject

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// defaultMaxEmails is how many addresses Emails returns when its max is 0 or
// less: enough for any real event, few enough that a payload stuffed with
// addresses cannot flood the subject index.
const defaultMaxEmails = 100

// Limits of the address grammar, in bytes (RFC 5321 §4.5.3.1 and RFC 1035).
const (
	maxEmailLen = 254
	maxLocalLen = 64
	maxLabelLen = 63
)

// maxDepth is the deepest nesting Emails accepts: encoding/json's own limit,
// so a body is JSON here exactly when json.Valid says so.
const maxDepth = 10000

// Emails returns every distinct email address found in the string values and
// object keys of a JSON body, lower-cased (which is how Normalize writes an
// "email" subject), in the order first seen, at most max of them (max <= 0
// means 100). It returns nil when there are none, and when body is not
// exactly one JSON value as json.Valid judges it (trailing bytes other than
// white space included): arbitrary bytes are not scanned, and an invalid
// body yields nothing rather than a guess from part of it.
//
// The body is validated in one pass, and then only its strings that hold
// an '@' are decoded; it builds no tree, however deep or large. A body
// nested deeper than jsonscan checks is read as encoding/json's token
// stream instead. Strings are scanned after JSON decoding, so
// "ada\u0040example.com" is an address. An address may sit anywhere in a
// string ("contact: Ada <Ada@Example.com>, thanks" yields
// "ada@example.com"). The grammar is deliberately narrower than RFC 5322:
//
//   - local part: [A-Za-z0-9._%+-], 1 to 64 bytes, no leading, trailing or
//     doubled '.'; dots just before it are taken as punctuation;
//   - '@';
//   - domain: two or more labels of [A-Za-z0-9-] (1 to 63 bytes, not starting
//     or ending with '-') joined by single dots, the last one 2 or more
//     letters; dots and hyphens just after it are taken as punctuation;
//   - 254 bytes in all;
//   - not glued to more address-like text: a candidate preceded or followed
//     by '@', followed by '_', '%' or '+', or touching a non-ASCII letter,
//     digit or mark ("ädam@example.com") is skipped rather than cut down to
//     an address nobody wrote.
//
// Scanning a string is linear in its length and allocates only for the
// addresses it returns and the strings it decodes.
func Emails(body []byte, max int) []string {
	if max <= 0 {
		max = defaultMaxEmails
	}
	// Most bodies hold no address: a decoded string can only contain '@' if
	// the body has one or escapes one, and without either the answer is nil
	// whether or not the body is JSON.
	if !mayHoldAt(body) {
		return nil
	}
	c := collector{max: max}
	if !jsonscan.Valid(body) {
		return c.fromTokens(body)
	}
	for tok := range jsonscan.Strings(body) {
		if len(c.out) == c.max {
			break
		}
		if mayHoldAt(tok) {
			s, _ := jsonscan.DecodeString(tok)
			c.scan(s)
		}
	}
	return c.out
}

// mayHoldAt reports whether JSON text has an '@', as it is or escaped.
func mayHoldAt(b []byte) bool {
	return bytes.IndexByte(b, '@') >= 0 || bytes.Contains(b, []byte(`\u0040`))
}

// fromTokens is Emails for a body jsonscan refuses: not JSON, or nested
// deeper than it checks. It reads the body as encoding/json's token stream,
// so that such a body is JSON exactly when json.Valid says so.
func (c *collector) fromTokens(body []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	// Numbers are skipped, but decoding them as float64 would reject valid
	// JSON such as 1e400.
	dec.UseNumber()
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF here means an empty body
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				depth++
				if depth > maxDepth {
					return nil
				}
			} else {
				depth--
			}
		case string:
			c.scan(t)
		}
		if depth == 0 {
			break
		}
	}
	// Exactly one value: a second one, or garbage, makes the body invalid.
	if _, err := dec.Token(); err != io.EOF {
		return nil
	}
	return c.out
}

// collector gathers distinct addresses up to max.
type collector struct {
	max  int
	seen map[string]struct{}
	out  []string
}

// scan adds the addresses in s. Each '@' looks left over the local-part run
// and right over the domain run; '@' belongs to neither, so no byte is looked
// at by more than one left scan and one right scan, and the whole is linear.
func (c *collector) scan(s string) {
	for i := 0; len(c.out) < c.max; {
		j := strings.IndexByte(s[i:], '@')
		if j < 0 {
			return
		}
		at := i + j
		if start, end, ok := addressAround(s, at); ok {
			c.add(s[start:end])
		}
		i = at + 1
	}
}

// add records addr, lower-cased, unless it was seen before. The lower-cased
// copy is built on the stack (addresses are at most maxEmailLen bytes), so
// only a new address allocates, and it does not pin the decoded string.
func (c *collector) add(addr string) {
	var buf [maxEmailLen]byte
	b := buf[:len(addr)]
	for i := 0; i < len(addr); i++ {
		ch := addr[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b[i] = ch
	}
	if _, dup := c.seen[string(b)]; dup {
		return
	}
	if c.seen == nil {
		c.seen = make(map[string]struct{})
	}
	lower := string(b)
	c.seen[lower] = struct{}{}
	c.out = append(c.out, lower)
}

// addressAround returns the bounds of the address whose '@' is s[at], if
// there is one.
func addressAround(s string, at int) (start, end int, ok bool) {
	start = at
	for start > 0 && isLocalByte(s[start-1]) {
		start--
	}
	end = at + 1
	for end < len(s) && isDomainByte(s[end]) {
		end++
	}
	if !boundaryBefore(s, start) || !boundaryAfter(s, end) {
		return 0, 0, false
	}
	for start < at && s[start] == '.' {
		start++
	}
	// A domain ends in a letter, so dots and hyphens after it are
	// punctuation: "write to ada@example.com." or "ada@example.com--".
	for end > at+1 && (s[end-1] == '.' || s[end-1] == '-') {
		end--
	}
	if end-start > maxEmailLen || !validLocal(s[start:at]) || !validDomain(s[at+1:end]) {
		return 0, 0, false
	}
	return start, end, true
}

// boundaryBefore reports whether the byte before s[i:] may precede an
// address: the start of s, or a character that could not be part of one.
// The maximal local-part run already stops at any ASCII address character.
func boundaryBefore(s string, i int) bool {
	if i == 0 {
		return true
	}
	if b := s[i-1]; b < utf8.RuneSelf {
		return b != '@'
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !isWordRune(r)
}

// boundaryAfter reports whether s[i:] may follow an address.
func boundaryAfter(s string, i int) bool {
	if i == len(s) {
		return true
	}
	if b := s[i]; b < utf8.RuneSelf {
		return b != '@' && b != '_' && b != '%' && b != '+'
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !isWordRune(r)
}

// isWordRune reports whether a non-ASCII rune continues a word, so an address
// touching it is part of something longer (an internationalised address,
// which the grammar does not cover).
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// validLocal checks a local part: allowed bytes only (guaranteed by the
// scan), 1 to maxLocalLen bytes, dots only between other characters.
func validLocal(l string) bool {
	if l == "" || len(l) > maxLocalLen || l[0] == '.' || l[len(l)-1] == '.' {
		return false
	}
	return !strings.Contains(l, "..")
}

// validDomain checks a domain: two or more labels, each 1 to maxLabelLen
// bytes of letters, digits and inner hyphens, the last 2 or more letters.
func validDomain(d string) bool {
	labels := 0
	for d != "" {
		label, rest, more := strings.Cut(d, ".")
		if label == "" || len(label) > maxLabelLen || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		if !more {
			return labels >= 2 && len(label) >= 2 && allLetters(label)
		}
		d = rest
	}
	return false // empty, or ends with '.'
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isLocalByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '-'
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
