package inbound

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
)

// Bounds on what a user may configure.
const (
	maxSecretLen = 1024
	maxHeaderLen = 256
	maxPrefixLen = 64
)

// fieldsOf lists the Verification fields each type uses; any other field
// must be left empty so a mistaken configuration (a header on a github
// source, say) is pointed out instead of silently ignored.
var fieldsOf = map[string][]string{
	sluice.VerifyNone:             nil,
	sluice.VerifyStripe:           {"secret"},
	sluice.VerifyGitHub:           {"secret"},
	sluice.VerifyShopify:          {"secret"},
	sluice.VerifyStandardWebhooks: {"secret"},
	sluice.VerifyHMAC:             {"secret", "header", "algorithm", "encoding", "prefix"},
	sluice.VerifyBasic:            {"username", "password"},
	sluice.VerifyToken:            {"header", "secret"},
}

// Check validates a verification configuration as a user gave it and fills
// in defaults: for hmac an empty algorithm becomes sha256 and an empty
// encoding hex (both are lower-cased), and for hmac and token the header
// name is canonicalised. It returns an EINVALID *sluice.Error whose message
// names the field ("verification.secret: required") and never contains a
// secret value.
//
// The rules: type is one of the eight (none, stripe, github, shopify,
// standard-webhooks, hmac, basic, token); fields the type does not use must
// be empty; secrets, usernames and passwords are required, at most 1024
// bytes, and have no leading or trailing white space (a pasting mistake that
// could never match); a standard-webhooks secret is "whsec_" and base64 of
// 24 to 64 bytes; hmac and token need a header, a valid HTTP header name; a
// token must be a valid header value; a Basic username has no ':'; an hmac
// prefix is at most 64 bytes of printable ASCII not starting with a space.
func Check(v *sluice.Verification) error {
	if v == nil {
		return invalid("verification", "required")
	}
	if v.Type == "" {
		return invalid("verification.type", "required")
	}
	used, ok := fieldsOf[v.Type]
	if !ok {
		return invalid("verification.type", "must be none, stripe, github, shopify, standard-webhooks, hmac, basic or token")
	}
	if err := checkUnused(v, used); err != nil {
		return err
	}
	switch v.Type {
	case sluice.VerifyStripe, sluice.VerifyGitHub, sluice.VerifyShopify:
		return checkSecret("verification.secret", v.Secret)
	case sluice.VerifyStandardWebhooks:
		if err := checkSecret("verification.secret", v.Secret); err != nil {
			return err
		}
		return checkStandardSecret(v.Secret)
	case sluice.VerifyHMAC:
		return checkHMAC(v)
	case sluice.VerifyBasic:
		return checkBasic(v)
	case sluice.VerifyToken:
		return checkToken(v)
	}
	return nil
}

func checkUnused(v *sluice.Verification, used []string) error {
	for _, f := range []struct{ name, value string }{
		{"secret", v.Secret},
		{"header", v.Header},
		{"algorithm", v.Algorithm},
		{"encoding", v.Encoding},
		{"prefix", v.Prefix},
		{"username", v.Username},
		{"password", v.Password},
	} {
		if f.value != "" && !slices.Contains(used, f.name) {
			return invalid("verification."+f.name, "not used by type "+v.Type)
		}
	}
	return nil
}

func checkHMAC(v *sluice.Verification) error {
	if err := checkSecret("verification.secret", v.Secret); err != nil {
		return err
	}
	if err := checkHeaderName(v); err != nil {
		return err
	}
	v.Algorithm = strings.ToLower(v.Algorithm)
	if v.Algorithm == "" {
		v.Algorithm = defaultAlgorithm
	}
	if _, ok := hashFor(v.Algorithm); !ok {
		return invalid("verification.algorithm", "must be sha256, sha512 or sha1")
	}
	v.Encoding = strings.ToLower(v.Encoding)
	if v.Encoding == "" {
		v.Encoding = defaultEncoding
	}
	if !validEncoding(v.Encoding) {
		return invalid("verification.encoding", "must be hex or base64")
	}
	if len(v.Prefix) > maxPrefixLen {
		return invalid("verification.prefix", "at most 64 bytes")
	}
	for i := 0; i < len(v.Prefix); i++ {
		if c := v.Prefix[i]; c < 0x20 || c > 0x7e {
			return invalid("verification.prefix", "must be printable ASCII")
		}
	}
	if strings.HasPrefix(v.Prefix, " ") {
		return invalid("verification.prefix", "must not start with a space")
	}
	return nil
}

func checkBasic(v *sluice.Verification) error {
	if err := checkSecret("verification.username", v.Username); err != nil {
		return err
	}
	if strings.Contains(v.Username, ":") {
		return invalid("verification.username", "must not contain ':'")
	}
	return checkSecret("verification.password", v.Password)
}

func checkToken(v *sluice.Verification) error {
	if err := checkHeaderName(v); err != nil {
		return err
	}
	if err := checkSecret("verification.secret", v.Secret); err != nil {
		return err
	}
	for i := 0; i < len(v.Secret); i++ {
		if c := v.Secret[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return invalid("verification.secret", "must be a valid HTTP header value")
		}
	}
	return nil
}

// checkHeaderName requires v.Header to be an HTTP header name and makes it
// canonical.
func checkHeaderName(v *sluice.Verification) error {
	if v.Header == "" {
		return invalid("verification.header", "required")
	}
	if len(v.Header) > maxHeaderLen || !validHeaderName(v.Header) {
		return invalid("verification.header", "must be a valid HTTP header name")
	}
	v.Header = canonical(v.Header)
	return nil
}

// checkSecret applies the rules every secret-like field shares. Its messages
// describe the value without quoting any of it.
func checkSecret(field, s string) error {
	switch {
	case s == "":
		return invalid(field, "required")
	case len(s) > maxSecretLen:
		return invalid(field, "at most 1024 bytes")
	case !utf8.ValidString(s):
		return invalid(field, "must be valid UTF-8")
	case strings.TrimSpace(s) != s:
		return invalid(field, "must not start or end with white space")
	}
	return nil
}

func checkStandardSecret(s string) error {
	if _, err := signature.ParseSecret(s); err != nil {
		return invalid("verification.secret", "must be whsec_ followed by base64 of 24 to 64 bytes")
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token, the syntax of a
// header field name.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func invalid(field, problem string) error {
	return sluice.Errorf(sluice.EINVALID, "%s: %s", field, problem)
}
