package subject

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// appendJSONString appends the decoded contents of a JSON string, without
// its quotes, that jsonscan has validated, exactly as encoding/json
// decodes it: escapes resolved, a lone surrogate and every byte that is not
// UTF-8 replaced by U+FFFD. It is json.Unmarshal into a string, less the
// reflection and the allocation.
func appendJSONString(dst, raw []byte) []byte {
	for len(raw) > 0 {
		c := raw[0]
		switch {
		case c == '\\':
			dst, raw = appendEscape(dst, raw)
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			raw = raw[1:]
		default:
			r, n := utf8.DecodeRune(raw)
			dst = utf8.AppendRune(dst, r)
			raw = raw[n:]
		}
	}
	return dst
}

// appendEscape decodes the escape that starts raw and returns the rest.
func appendEscape(dst, raw []byte) ([]byte, []byte) {
	if len(raw) < 2 {
		return dst, nil // not in validated text
	}
	switch raw[1] {
	case 'b':
		return append(dst, '\b'), raw[2:]
	case 'f':
		return append(dst, '\f'), raw[2:]
	case 'n':
		return append(dst, '\n'), raw[2:]
	case 'r':
		return append(dst, '\r'), raw[2:]
	case 't':
		return append(dst, '\t'), raw[2:]
	case 'u':
		r := hex4(raw)
		raw = raw[min(6, len(raw)):]
		if utf16.IsSurrogate(r) {
			if dec := utf16.DecodeRune(r, hex4(raw)); dec != unicode.ReplacementChar {
				return utf8.AppendRune(dst, dec), raw[6:]
			}
			r = unicode.ReplacementChar
		}
		return utf8.AppendRune(dst, r), raw
	}
	return append(dst, raw[1]), raw[2:] // '"', '\\' or '/'
}

// hex4 is the code unit of a "\uXXXX" escape at the start of b, or -1.
func hex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendCharRefsDecoded appends t with its numeric character references —
// "&#64;" and "&#x40;", as XML and HTML write any character — decoded. A
// reference to no character (0, a surrogate, beyond U+10FFFF) is kept as
// written, and so are named entities: the five of XML decode to characters
// that break an address exactly as their own '&' and ';' do.
func appendCharRefsDecoded(dst, t []byte) []byte {
	for {
		i := bytes.Index(t, []byte("&#"))
		if i < 0 {
			return append(dst, t...)
		}
		dst = append(dst, t[:i]...)
		t = t[i:]
		r, n := charRef(t)
		if n == 0 {
			dst = append(dst, '&')
			t = t[1:]
			continue
		}
		dst = utf8.AppendRune(dst, r)
		t = t[n:]
	}
}

// charRef decodes the character reference at the start of t ("&#…;"),
// returning its length, or 0 when it is not one.
func charRef(t []byte) (r rune, n int) {
	i, base := 2, rune(10)
	if i < len(t) && (t[i] == 'x' || t[i] == 'X') {
		i, base = 3, 16
	}
	start := i
	for ; i < len(t); i++ {
		d := digitValue(t[i])
		if d < 0 || d >= base {
			break
		}
		if r <= unicode.MaxRune {
			r = r*base + d // stays small enough once past MaxRune: no overflow
		}
	}
	if i == start || i == len(t) || t[i] != ';' {
		return 0, 0
	}
	if r == 0 || r > unicode.MaxRune || 0xD800 <= r && r <= 0xDFFF {
		return 0, 0
	}
	return r, i + 1
}

func digitValue(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}
