package inbound

import (
	"net/http"
	"strings"
)

// verifyToken checks that the configured header carries the secret token;
// in Authorization, "Bearer <token>" is accepted too.
func verifyToken(header, secret string, h http.Header) error {
	if header == "" || secret == "" {
		return misconfigured("empty header or token")
	}
	got := headerValue(h, header)
	if got == "" {
		return ErrMissing
	}
	match := equalSecret(got, secret)
	if strings.EqualFold(canonical(header), "Authorization") {
		if scheme, tok, found := strings.Cut(got, " "); found && strings.EqualFold(scheme, "Bearer") {
			match |= equalSecret(strings.TrimSpace(tok), secret)
		}
	}
	if match != 1 {
		return ErrMismatch
	}
	return nil
}

func signToken(h http.Header, header, secret string) {
	if canonical(header) == "Authorization" {
		h.Set(header, "Bearer "+secret)
		return
	}
	h.Set(header, secret)
}
