package subject

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// aceprefix starts an A-label, the ASCII form of an internationalised
// domain label (RFC 5890): "xn--bcher-kva" is "bücher".
const aceprefix = "xn--"

// Punycode parameters (RFC 3492 §5).
const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
)

// uLabels returns domain with each of its A-labels that decodes to a
// U-label replaced by that U-label, folded as foldEmail folds. An A-label
// that does not decode, or decodes to something no registry would accept
// as a label, is left as it is. domain is already folded, so an A-label is
// lower-case here.
//
// The standard library has no IDNA (net/http's copy is vendored out of
// reach) and golang.org/x/net is not among the module's dependencies, so
// this is RFC 3492's decoder, which is all that turning an A-label back
// into the label a user types needs.
func uLabels(domain string) string {
	if !strings.Contains(domain, aceprefix) {
		return domain
	}
	var b strings.Builder
	for i, label := range strings.Split(domain, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		if u, ok := uLabel(label); ok {
			label = u
		}
		b.WriteString(label)
	}
	return b.String()
}

// uLabel decodes one A-label, reporting false unless it is one and its
// U-label, folded, is letters, marks, digits and hyphens with at least one
// non-ASCII rune and no "xn--" of its own (so that folding it again leaves
// it alone). A label longer than DNS allows is no A-label: decoding is
// quadratic in the label's length, and a value to normalise can be long.
func uLabel(label string) (string, bool) {
	code, ok := strings.CutPrefix(label, aceprefix)
	if !ok || len(label) > maxLabelLen {
		return "", false
	}
	decoded, ok := decodePunycode(code)
	if !ok {
		return "", false
	}
	u := foldEmail(decoded)
	ascii := true
	for _, r := range u {
		if r >= utf8.RuneSelf {
			ascii = false
		}
		if r != '-' && !unicode.IsLetter(r) && !unicode.IsMark(r) && !unicode.IsDigit(r) {
			return "", false
		}
	}
	if ascii || strings.HasPrefix(u, aceprefix) {
		return "", false
	}
	return u, true
}

// decodePunycode decodes the part of an A-label after "xn--" (RFC 3492
// §6.2), reporting false for input that is not Punycode. uLabel passes at
// most 59 bytes, so the quadratic insertion costs nothing.
func decodePunycode(code string) (string, bool) {
	var out []rune
	pos := 0
	if d := strings.LastIndexByte(code, '-'); d > 0 {
		for i := 0; i < d; i++ {
			if code[i] >= utf8.RuneSelf {
				return "", false
			}
			out = append(out, rune(code[i]))
		}
		pos = d + 1
	}
	n, i, bias := pcInitialN, 0, pcInitialBias
	for pos < len(code) {
		oldi, w := i, 1
		for k := pcBase; ; k += pcBase {
			if pos == len(code) {
				return "", false
			}
			digit, ok := punyDigit(code[pos])
			pos++
			if !ok || digit > (math.MaxInt32-i)/w {
				return "", false
			}
			i += digit * w
			t := min(max(k-bias, pcTMin), pcTMax)
			if digit < t {
				break
			}
			if w > math.MaxInt32/(pcBase-t) {
				return "", false
			}
			w *= pcBase - t
		}
		count := len(out) + 1
		bias = punyAdapt(i-oldi, count, oldi == 0)
		if i/count > math.MaxInt32-n {
			return "", false
		}
		n += i / count
		i %= count
		if n > unicode.MaxRune || 0xD800 <= n && n <= 0xDFFF {
			return "", false
		}
		out = append(out, 0)
		copy(out[i+1:], out[i:])
		out[i] = rune(n)
		i++
	}
	return string(out), true
}

// punyDigit is the value of a Punycode digit: a-z (or A-Z) 0 to 25, 0-9
// 26 to 35.
func punyDigit(c byte) (int, bool) {
	switch {
	case 'a' <= c && c <= 'z':
		return int(c - 'a'), true
	case 'A' <= c && c <= 'Z':
		return int(c - 'A'), true
	case '0' <= c && c <= '9':
		return int(c-'0') + 26, true
	}
	return 0, false
}

// punyAdapt is RFC 3492's bias adaptation (§6.1).
func punyAdapt(delta, count int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / count
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}
