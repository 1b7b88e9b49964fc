package inbound

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// verifyBasic checks "Authorization: Basic base64(username:password)". Both
// parts are always compared, and through fixed-length digests, so neither
// the time taken nor an early exit tells which part was wrong or how long
// the expected values are.
func verifyBasic(username, password string, h http.Header) error {
	if username == "" || password == "" {
		return misconfigured("empty username or password")
	}
	header := headerValue(h, "Authorization")
	if header == "" {
		return ErrMissing
	}
	scheme, cred, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return ErrMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return ErrMalformed
	}
	user, pass, found := strings.Cut(string(raw), ":")
	if !found {
		return ErrMalformed
	}
	u := equalSecret(user, username)
	p := equalSecret(pass, password)
	if u&p != 1 {
		return ErrMismatch
	}
	return nil
}

func signBasic(h http.Header, username, password string) {
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(username+":"+password)))
}
