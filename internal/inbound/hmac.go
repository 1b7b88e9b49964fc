package inbound

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
)

// Algorithms and encodings of the generic hmac type, and their defaults.
const (
	algSHA256 = "sha256"
	algSHA512 = "sha512"
	algSHA1   = "sha1"
	encHex    = "hex"
	encBase64 = "base64"

	defaultAlgorithm = algSHA256
	defaultEncoding  = encHex
)

// hashFor returns the hash of an algorithm name, "" meaning the default.
func hashFor(algorithm string) (func() hash.Hash, bool) {
	switch strings.ToLower(algorithm) {
	case "", algSHA256:
		return sha256.New, true
	case algSHA512:
		return sha512.New, true
	case algSHA1:
		return sha1.New, true
	}
	return nil, false
}

// validEncoding reports whether enc names an encoding, "" meaning the default.
func validEncoding(enc string) bool {
	switch strings.ToLower(enc) {
	case "", encHex, encBase64:
		return true
	}
	return false
}

// verifyHMAC checks the generic scheme: the configured header holds Prefix
// (which must be there) followed by the body's HMAC under the configured
// algorithm, keyed with the secret's bytes, in hex (either case) or base64
// (standard or URL alphabet, padded or not: senders differ and the bytes
// compared are the same).
func verifyHMAC(v *sluice.Verification, h http.Header, body []byte) error {
	if v.Secret == "" {
		return misconfigured("empty secret")
	}
	if v.Header == "" {
		return misconfigured("no header")
	}
	newHash, ok := hashFor(v.Algorithm)
	if !ok || !validEncoding(v.Encoding) {
		return misconfigured("unknown algorithm or encoding")
	}
	header := headerValue(h, v.Header)
	if header == "" {
		return ErrMissing
	}
	sig, ok := strings.CutPrefix(header, v.Prefix)
	if !ok {
		return ErrMalformed
	}
	got, ok := decodeSignature(strings.ToLower(v.Encoding), sig)
	if !ok {
		return ErrMalformed
	}
	if !hmac.Equal(got, macWith(newHash, v.Secret, body)) {
		return ErrMismatch
	}
	return nil
}

func decodeSignature(enc, sig string) ([]byte, bool) {
	if enc == encBase64 {
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := e.DecodeString(sig); err == nil {
				return b, true
			}
		}
		return nil, false
	}
	b, err := hex.DecodeString(sig)
	return b, err == nil
}

func macWith(newHash func() hash.Hash, secret string, body []byte) []byte {
	m := hmac.New(newHash, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// signHMAC signs with a configuration that Check has filled in.
func signHMAC(h http.Header, v *sluice.Verification, body []byte) {
	newHash, _ := hashFor(v.Algorithm)
	mac := macWith(newHash, v.Secret, body)
	var sig string
	if v.Encoding == encBase64 {
		sig = base64.StdEncoding.EncodeToString(mac)
	} else {
		sig = hex.EncodeToString(mac)
	}
	h.Set(v.Header, v.Prefix+sig)
}
