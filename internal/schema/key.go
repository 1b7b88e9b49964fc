package schema

// Which keys a field path names, and which it records as Placeholder: the
// rule Paths applies, and Redact and RedactAll apply to paths stored before
// it.

// Placeholder stands in a field path for a key that is not an identifier
// (see Paths).
const Placeholder = "*"

// Limits of the identifier rule (see Paths).
const (
	MaxKeyLen    = 64 // longer keys are recorded as Placeholder
	maxKeyDigits = 3  // a key with more digits is a number or an id
	minHexID     = 8  // this many hex digits, one a decimal digit: a hash or UUID
	minTokenWord = 12 // a word this long can be judged a random token
)

// Classes of a key's bytes; zero is a byte no identifier holds.
const (
	cLower = 1 << iota
	cUpper
	cDigit
	cSep // '_' or '-', which end a word
	cHex // with cLower, cUpper or cDigit: a hexadecimal digit
)

var keyClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower
		t[c-'a'+'A'] = cUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit | cHex
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHex
		t[c-'a'+'A'] |= cHex
	}
	t['_'], t['-'] = cSep, cSep
	return t
}()

// identifier reports whether Paths records key by name; see Paths for the
// rule. It reads each byte once.
func identifier[K string | []byte](key K) bool {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return false
	}
	i := 0
	if key[0] == '$' || key[0] == '@' {
		i = 1
	}
	if i == len(key) || keyClass[key[i]]&(cLower|cUpper) == 0 && key[i] != '_' {
		return false
	}
	digits, alnum, allHex := 0, 0, true
	var w word
	for ; i < len(key); i++ {
		c := keyClass[key[i]]
		switch {
		case c == 0:
			return false
		case c == cSep:
			if w.token() {
				return false
			}
			w = word{}
			continue
		case c&cDigit != 0:
			if digits++; digits > maxKeyDigits {
				return false
			}
		}
		alnum++
		allHex = allHex && c&cHex != 0
		w.add(c)
	}
	if allHex && alnum >= minHexID && digits > 0 {
		return false
	}
	return !w.token()
}

// word counts the letters and digits of a run between separators.
type word struct {
	n, upper, lower   int
	afterDigit, mixed bool // mixed: a letter right after a digit
}

func (w *word) add(c uint8) {
	w.n++
	switch {
	case c&cUpper != 0:
		w.upper++
	case c&cLower != 0:
		w.lower++
	}
	w.mixed = w.mixed || w.afterDigit && c&cDigit == 0
	w.afterDigit = c&cDigit != 0
}

// token reports whether the word looks like the random part of an id such
// as cus_NffrFeUfNV2Hib: long, with both cases and a digit inside.
func (w *word) token() bool {
	return w.n >= minTokenWord && w.upper >= 3 && w.lower >= 3 && w.mixed
}

// Identifier reports whether Paths records the key, its JSON escapes
// resolved, by name rather than as Placeholder.
func Identifier(key string) bool { return identifier(key) }
