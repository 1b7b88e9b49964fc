package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// DecodeString decodes a JSON string token, quotes included, exactly as
// encoding/json does: escapes resolved, invalid UTF-8 replaced by U+FFFD.
// It reports false for any other token.
func DecodeString(tok []byte) (string, bool) {
	if len(tok) < 2 || tok[0] != '"' {
		return "", false
	}
	// Only strings needing neither resolving nor replacing are copied as
	// they are.
	if raw := tok[1 : len(tok)-1]; bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	var s string
	err := json.Unmarshal(tok, &s)
	return s, err == nil
}
