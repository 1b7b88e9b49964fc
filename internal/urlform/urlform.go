// Package urlform reads application/x-www-form-urlencoded text, and
// percent-encoded text in general, leniently: an escape that is not one
// ("100%", "%zz") is kept as written instead of failing the whole body, as
// net/url does. A webhook's body is what the sender sent; reading as much
// of it as can be read is what finding a value in it needs.
package urlform

import (
	"bytes"
	"iter"
)

// Unescape appends s to dst with every "%XX" (two hex digits) decoded to
// its byte, and, when plus is true, every '+' decoded to a space, as in a
// form's names and values. Elsewhere '+' is itself: "bob+tag%40example.com"
// is an address with a '+' in it. The result need not be UTF-8.
func Unescape(dst, s []byte, plus bool) []byte {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '%' && (!plus || s[i] != '+') {
			i++
		}
		dst = append(dst, s[:i]...)
		if i == len(s) {
			break
		}
		switch {
		case s[i] == '+':
			dst = append(dst, ' ')
			i++
		case i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			dst = append(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 3
		default:
			dst = append(dst, '%')
			i++
		}
		s = s[i:]
	}
	return dst
}

// Fields yields the name and value of each field of a form body, both
// still encoded: the body split at each '&', and each part at its first
// '=' (a part without one is a name with an empty value). Empty parts are
// skipped. ';' separates nothing, as in net/url since Go 1.17.
func Fields(body []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for len(body) > 0 {
			part, rest, _ := bytes.Cut(body, []byte{'&'})
			body = rest
			if len(part) == 0 {
				continue
			}
			name, value, _ := bytes.Cut(part, []byte{'='})
			if !yield(name, value) {
				return
			}
		}
	}
}

// Value returns the decoded value of the first field of body whose decoded
// name is name, and false when there is none.
func Value(body []byte, name string) (string, bool) {
	var buf []byte
	for n, v := range Fields(body) {
		buf = Unescape(buf[:0], n, true)
		if string(buf) == name {
			return string(Unescape(nil, v, true)), true
		}
	}
	return "", false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
