package subject

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// aceprefix starts an A-label, the ASCII form of an internationalised
// domain label (RFC 5890): "xn--bcher-kva" is "bücher", its U-label.
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

// maxULabelLen is the longest U-label aLabel encodes, in bytes: an A-label
// has at most 59 bytes after its "xn--", one at least for each rune.
const maxULabelLen = utf8.UTFMax * (maxLabelLen - len(aceprefix))

// aLabels returns a domain, already folded as foldEmail folds, with every
// internationalised label in one form, its A-label: a U-label ("bücher")
// is encoded ("xn--bcher-kva"), and an A-label is decoded, folded and
// encoded again, so that one encoding capitals ("xn--wca", "Ü") is the
// A-label of the folded U-label ("xn--tda", "ü"). Any other label — ASCII,
// or one no registry would take — is left as it is.
//
// A-labels rather than U-labels because an address in a payload is as
// often written with its A-labels (an <input type=email> sends them) and
// the finder of old indexed those as they were: they keep their value.
// The standard library has no IDNA (net/http's copy is vendored out of
// reach) and golang.org/x/net is not among the module's dependencies, so
// this is RFC 3492's Punycode, which is all that IDNA needs here: the
// mapping before it is foldEmail's.
func aLabels(domain string) string {
	if isASCII(domain) && !strings.Contains(domain, aceprefix) {
		return domain
	}
	var b strings.Builder
	for i, label := range strings.Split(domain, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		if a, ok := aLabel(label); ok {
			label = a
		}
		b.WriteString(label)
	}
	return b.String()
}

// aLabel returns the A-label of an internationalised label, given as its
// A-label or its U-label, and false for any other label. A label too long
// to be one is not one: Punycode is quadratic in the label's length, and a
// value to normalise can be long.
func aLabel(label string) (string, bool) {
	u := label
	if code, ok := strings.CutPrefix(label, aceprefix); ok {
		if len(label) > maxLabelLen {
			return "", false
		}
		decoded, ok := decodePunycode(code)
		if !ok {
			return "", false
		}
		u = foldEmail(decoded)
	} else if isASCII(label) || len(label) > maxULabelLen {
		return "", false
	}
	if !isULabel(u) {
		return "", false
	}
	return aceprefix + encodePunycode(u), true
}

// isULabel reports whether a folded label is one a registry could take:
// letters, marks, digits and hyphens, at least one of them not ASCII, and
// no "xn--" of its own.
func isULabel(u string) bool {
	ascii := true
	for _, r := range u {
		if r >= utf8.RuneSelf {
			ascii = false
		}
		if r != '-' && !unicode.IsLetter(r) && !unicode.IsMark(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return !ascii && !strings.HasPrefix(u, aceprefix)
}

// encodePunycode encodes a label (RFC 3492 §6.3) without its "xn--".
// aLabel passes at most maxULabelLen bytes, so neither the quadratic loop
// nor the arithmetic can run away.
func encodePunycode(label string) string {
	runes := []rune(label)
	var out []byte
	for _, r := range runes {
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
		}
	}
	basic := len(out)
	if basic > 0 {
		out = append(out, '-')
	}
	n, delta, bias := pcInitialN, 0, pcInitialBias
	for h := basic; h < len(runes); {
		m := rune(unicode.MaxRune + 1)
		for _, r := range runes {
			if int(r) >= n && r < m {
				m = r
			}
		}
		delta += (int(m) - n) * (h + 1)
		n = int(m)
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) != n {
				continue
			}
			q := delta
			for k := pcBase; ; k += pcBase {
				t := min(max(k-bias, pcTMin), pcTMax)
				if q < t {
					break
				}
				out = append(out, punyDigitByte(t+(q-t)%(pcBase-t)))
				q = (q - t) / (pcBase - t)
			}
			out = append(out, punyDigitByte(q))
			bias = punyAdapt(delta, h+1, h == basic)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return string(out)
}

// decodePunycode decodes the part of an A-label after "xn--" (RFC 3492
// §6.2), reporting false for input that is not Punycode. aLabel passes at
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

// punyDigitByte is the Punycode digit of a value from 0 to 35.
func punyDigitByte(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
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
