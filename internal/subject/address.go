package subject

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// Limits of the address grammar, in bytes (RFC 5321 §4.5.3.1 and RFC 1035).
const (
	maxEmailLen = 254
	maxLocalLen = 64
	maxLabelLen = 63
)

// scan adds the addresses in t, as Emails's grammar has them. Each '@'
// looks left over the local-part run and right over the domain run; '@'
// belongs to neither, so no byte is looked at by more than one left scan
// and one right scan, and the whole is linear.
func (f *finder) scan(t []byte) {
	for i := 0; ; {
		j := bytes.IndexByte(t[i:], '@')
		if j < 0 {
			return
		}
		at := i + j
		if start, end, ace, ok := addressAround(t, at); ok {
			f.add(t[start:end], ace)
		}
		i = at + 1
	}
}

// addressAround returns the bounds of the address whose '@' is t[at], if
// there is one, and whether its domain has an A-label.
func addressAround(t []byte, at int) (start, end int, ace, ok bool) {
	start, end = localStart(t, at), domainEnd(t, at+1)
	// A run that stopped at a script change stopped at a break; one that
	// stopped at '@' (or, after the domain, at a byte only a local part
	// has) is part of something longer.
	if start > 0 && t[start-1] == '@' {
		return 0, 0, false, false
	}
	if end < len(t) {
		switch t[end] {
		case '@', '_', '%', '+':
			return 0, 0, false, false
		}
	}
	for start < at && t[start] == '.' {
		start++
	}
	// A domain ends in a letter, so dots and hyphens after it are
	// punctuation: "write to ada@example.com." or "ada@example.com--".
	for end > at+1 && (t[end-1] == '.' || t[end-1] == '-') {
		end--
	}
	if end-start > maxEmailLen || !validLocal(t[start:at]) {
		return 0, 0, false, false
	}
	ace, ok = validDomain(t[at+1 : end])
	return start, end, ace, ok
}

// localStart returns where the local-part run ending before t[i] starts.
// ASCII, the usual case, costs a table lookup a byte; only a non-ASCII rune
// is decoded and looked up in Unicode's tables. A byte of a non-ASCII rune
// is never an ASCII letter or digit, so the byte next to a rune tells
// whether the text breaks there.
func localStart(t []byte, i int) int {
	for {
		for i > 0 && localBytes[t[i-1]] {
			i--
		}
		if i == 0 || t[i-1] < utf8.RuneSelf {
			return i
		}
		r, n := utf8.DecodeLastRune(t[:i])
		if !isWordRune(r) {
			return i
		}
		spaceless := isSpaceless(r)
		if spaceless && isAlnum(t[i]) {
			return i
		}
		i -= n
		if spaceless && i > 0 && isAlnum(t[i-1]) {
			return i
		}
	}
}

// domainEnd returns where the domain run starting at t[i] ends; t[i-1] is
// its '@'.
func domainEnd(t []byte, i int) int {
	for {
		for i < len(t) && domainBytes[t[i]] {
			i++
		}
		if i == len(t) || t[i] < utf8.RuneSelf {
			return i
		}
		r, n := utf8.DecodeRune(t[i:])
		if !isWordRune(r) {
			return i
		}
		spaceless := isSpaceless(r)
		if spaceless && isAlnum(t[i-1]) {
			return i
		}
		i += n
		if spaceless && i < len(t) && isAlnum(t[i]) {
			return i
		}
	}
}

// isWordRune reports whether a non-ASCII rune may be part of an address:
// a letter, a mark or a digit. U+FFFD, which also stands for a byte that is
// not UTF-8, is none of these.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)
}

// A run also stops between an ASCII letter or digit and a character of a
// script written without spaces between words, where
// "请联系ada@example.com谢谢" puts an address straight after a word.
// spaceless are the scripts written without spaces between words.
var spaceless = []*unicode.RangeTable{unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul,
	unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar}

func isSpaceless(r rune) bool { return unicode.In(r, spaceless...) }

// validLocal checks a local part: allowed runes only (guaranteed by the
// scan), 1 to maxLocalLen bytes, dots only between other characters.
func validLocal(l []byte) bool {
	if len(l) == 0 || len(l) > maxLocalLen || l[0] == '.' || l[len(l)-1] == '.' {
		return false
	}
	for i := 1; i < len(l); i++ {
		if l[i] == '.' && l[i-1] == '.' {
			return false
		}
	}
	return true
}

// validDomain checks a domain: two or more labels, each 1 to maxLabelLen
// bytes of letters, marks, digits and inner hyphens (the runes guaranteed
// by the scan), not starting with a mark, the last one a top-level domain.
// It also reports whether a label is an A-label, which Normalize writes
// anew.
func validDomain(d []byte) (ace, ok bool) {
	labels := 0
	for len(d) > 0 {
		label, rest, more := bytes.Cut(d, []byte{'.'})
		if len(label) == 0 || len(label) > maxLabelLen || label[0] == '-' || label[len(label)-1] == '-' {
			return false, false
		}
		if label[0] >= utf8.RuneSelf {
			if r, _ := utf8.DecodeRune(label); unicode.IsMark(r) {
				return false, false
			}
		}
		ace = ace || isACE(label)
		labels++
		if !more {
			return ace, labels >= 2 && validTLD(label)
		}
		d = rest
	}
	return false, false // empty, or ends with '.'
}

// isACE reports whether a label starts with "xn--", in any case.
func isACE(label []byte) bool {
	return len(label) > len(aceprefix) && label[2] == '-' && label[3] == '-' &&
		label[0]|0x20 == 'x' && label[1]|0x20 == 'n'
}

// validTLD checks a top-level domain: letters and marks, the first a
// letter, two or more of them letters ("com", "рф", "भारत"), or an A-label
// ("xn--p1ai"). Marks are not counted, so that a TLD is valid whether or not
// it is written in NFC.
func validTLD(label []byte) bool {
	if isACE(label) {
		for _, c := range label {
			if c >= utf8.RuneSelf {
				return false
			}
		}
		return true // ASCII domain bytes, as the scan guarantees
	}
	letters := 0
	for len(label) > 0 {
		if c := label[0]; c < utf8.RuneSelf {
			if c|0x20 < 'a' || c|0x20 > 'z' {
				return false
			}
			letters++
			label = label[1:]
			continue
		}
		r, size := utf8.DecodeRune(label)
		switch {
		case unicode.IsLetter(r):
			letters++
		case letters == 0 || !unicode.IsMark(r):
			return false
		}
		label = label[size:]
	}
	return letters >= 2
}

// add records an address found, as Normalize writes it, unless it was
// found before; ace says whether its domain has an A-label. An ASCII
// address without one, the usual kind, is only lower-cased, into the
// finder's array, so that only a new one allocates and it does not pin the
// text it was found in.
func (f *finder) add(addr []byte, ace bool) {
	low := f.low[:len(addr)] // addr is at most maxEmailLen bytes
	var all byte             // every byte ORed: ASCII when below utf8.RuneSelf
	for i, c := range addr {
		all |= c
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	var value string
	if all < utf8.RuneSelf && !ace {
		if _, dup := f.seen[string(low)]; dup {
			return
		}
		value = string(low)
	} else {
		n, err := Normalize(Subject{Type: typeEmail, Value: string(addr)})
		if err != nil {
			return // longer than MaxValueLen once normalised
		}
		if _, dup := f.seen[n.Value]; dup {
			return
		}
		value = n.Value
	}
	if f.seen == nil {
		f.seen = make(map[string]struct{})
	}
	f.seen[value] = struct{}{}
	f.out = append(f.out, value)
}

// localBytes and domainBytes are the ASCII bytes of a local part and of a
// domain, indexed by any byte so that a lookup needs no bounds check.
var localBytes, domainBytes [256]bool

func init() {
	for c := range byte(utf8.RuneSelf) {
		domainBytes[c] = isAlnum(c) || c == '.' || c == '-'
		localBytes[c] = domainBytes[c] || c == '_' || c == '%' || c == '+'
	}
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
