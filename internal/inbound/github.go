package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

const (
	githubHeader       = "X-Hub-Signature-256"
	githubLegacyHeader = "X-Hub-Signature" // SHA-1; sent alongside, never trusted
	githubDelivery     = "X-Github-Delivery"
)

// verifyGitHub checks "X-Hub-Signature-256: sha256=<hex>", HMAC-SHA256 of
// the body keyed with the secret as given. The legacy SHA-1 header is
// ignored: GitHub always sends the SHA-256 one.
func verifyGitHub(secret string, h http.Header, body []byte) error {
	if secret == "" {
		return misconfigured("empty secret")
	}
	header := headerValue(h, githubHeader)
	if header == "" {
		return ErrMissing
	}
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return ErrMalformed
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ErrMalformed
	}
	if !hmac.Equal(got, macSHA256(secret, body)) {
		return ErrMismatch
	}
	return nil
}

func signGitHub(h http.Header, secret string, body []byte, id string) {
	h.Set(githubHeader, "sha256="+hex.EncodeToString(macSHA256(secret, body)))
	if id != "" {
		h.Set(githubDelivery, id)
	}
}

func macSHA256(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}
