package safehttp

import (
	"math"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// hostAddr reads a destination's host the way it will be read on its way
// to a connection, and returns the form in which it is looked up and, when
// the host is an address, that address.
//
// An HTTP client maps a host as IDNA lookup does before dialing it, so
// "①②⑦.⓪.⓪.①" is dialed as "127.0.0.1" (see lookupForm). A name the
// standard library does not read as an address still need not reach DNS
// as a name: the system resolver (getaddrinfo, which Go uses when it
// resolves with cgo) first reads it as inet_aton does, so "0x7f000001",
// "2130706433" and "127.1" are all 127.0.0.1. Both readings are applied
// here; the check at creation would otherwise pass, as a name that does
// not resolve, what the dialer later refuses as loopback. One trailing dot
// is dropped before either: "127.1." names the same place, and reading it
// as the address refuses more, never less.
func hostAddr(host string) (name string, addr netip.Addr, isAddr bool) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	name = strings.TrimSuffix(lookupForm(host), ".")
	if addr, err := netip.ParseAddr(name); err == nil {
		return name, addr, true
	}
	if addr, ok := parseInetAton(name); ok {
		return name, addr, true
	}
	return name, netip.Addr{}, false
}

// lookupForm maps host as IDNA lookup (UTS #46) maps it, as far as the
// result can be ASCII and so an address or a name DNS answers for: code
// points IDNA ignores (the soft hyphen, zero-width and other format
// characters, variation selectors) are removed; compatibility forms are
// replaced by their NFKC decomposition, so fullwidth, circled and other
// digits become ASCII digits and "ｘ" becomes "x"; the ideographic full
// stops become "."; capitals become small letters. It removes a little
// more than UTS #46 does, every format character, which can only make more
// hosts read as addresses; the other differences, code points IDNA
// disallows, make the HTTP client refuse the host before any lookup.
//
// golang.org/x/net/idna is not a dependency of the module; NFKC from
// golang.org/x/text, which is, covers every mapping that ends in ASCII.
func lookupForm(host string) string {
	if isASCII(host) {
		return strings.ToLower(host)
	}
	host = strings.Map(func(r rune) rune {
		if idnaIgnored(r) {
			return -1
		}
		return r
	}, host)
	host = norm.NFKC.String(host)
	host = strings.Map(func(r rune) rune {
		switch r {
		case '\u3002', '\uff0e', '\uff61': // ideographic, fullwidth, halfwidth ideographic full stop
			return '.'
		}
		return r
	}, host)
	return strings.ToLower(host)
}

// idnaIgnored reports whether IDNA lookup drops r from a name, or would if
// r were not disallowed: the default-ignorable code points.
func idnaIgnored(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// parseInetAton reads s as inet_aton(3) reads an IPv4 address, and
// getaddrinfo(3) with it: one to four parts separated by dots, each
// decimal, octal after a leading "0", or hexadecimal after "0x" or "0X";
// every part but the last is one byte, and the last fills the bytes that
// remain, so "127.1" is 127.0.0.1 and "2130706433" is too. A part too large
// for its place, an empty part, a digit outside the part's base and
// anything after the last part make s not an address (getaddrinfo uses
// the exact variant, which accepts no trailing text, not even spaces).
func parseInetAton(s string) (netip.Addr, bool) {
	var parts [4]uint32
	n := 0
	for {
		if n == len(parts) {
			return netip.Addr{}, false
		}
		v, rest, ok := parseInetAtonPart(s)
		if !ok {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
		if rest == "" {
			break
		}
		if rest[0] != '.' {
			return netip.Addr{}, false
		}
		s = rest[1:]
	}
	var v uint32
	for i, p := range parts[:n-1] {
		if p > math.MaxUint8 {
			return netip.Addr{}, false
		}
		v |= p << (24 - 8*i)
	}
	last := parts[n-1]
	if last > math.MaxUint32>>(8*(n-1)) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseInetAtonPart reads one part of an inet_aton address from the start
// of s and returns its value and what follows it. A part starts with a
// digit, and its value fits in 32 bits.
func parseInetAtonPart(s string) (v uint32, rest string, ok bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, "", false
	}
	base, i := uint64(10), 0
	switch {
	case len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		// "0x" with no hexadecimal digit after it is the octal part "0"
		// followed by "x", which no address has after a part.
		base, i = 16, 2
		if i == len(s) || digitValue(s[i]) >= base {
			return 0, "", false
		}
	case s[0] == '0':
		base = 8
	}
	var acc uint64
	for ; i < len(s); i++ {
		d := digitValue(s[i])
		if d >= base {
			break
		}
		acc = acc*base + d
		if acc > math.MaxUint32 {
			return 0, "", false
		}
	}
	return uint32(acc), s[i:], true
}

// digitValue returns the value of the hexadecimal digit c, and 16 for a
// byte that is not one.
func digitValue(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 16
}
