package inbound

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
)

// Header names of the Standard Webhooks scheme, and the svix-* names that
// Svix, its origin, still sends.
const (
	standardID        = signature.HeaderID
	standardTimestamp = signature.HeaderTimestamp
	standardSignature = signature.HeaderSignature
	svixID            = "svix-id"
	svixTimestamp     = "svix-timestamp"
	svixSignature     = "svix-signature"
)

// verifyStandard checks a Standard Webhooks signature with internal/signature:
// HMAC-SHA256 of "id.timestamp.body" keyed with the base64 after "whsec_",
// any space-separated "v1,<base64>" entry matching, the timestamp within
// Tolerance. The webhook-* headers are used when all three are there,
// otherwise the svix-* ones.
func verifyStandard(secret string, h http.Header, body []byte, now time.Time) error {
	if _, err := signature.ParseSecret(secret); err != nil {
		return misconfigured("secret is not whsec_ and base64")
	}
	id, ts, sig := headerValue(h, standardID), headerValue(h, standardTimestamp), headerValue(h, standardSignature)
	if id == "" || ts == "" || sig == "" {
		id, ts, sig = headerValue(h, svixID), headerValue(h, svixTimestamp), headerValue(h, svixSignature)
	}
	if id == "" || ts == "" || sig == "" {
		return ErrMissing
	}
	if !hasV1Entry(sig) {
		return ErrMalformed
	}
	err := signature.Verify(secret, id, ts, sig, body, now, Tolerance)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, signature.ErrMissingHeaders):
		return ErrMissing
	case errors.Is(err, signature.ErrBadTimestamp):
		return ErrMalformed
	case errors.Is(err, signature.ErrStale):
		return ErrStale
	case errors.Is(err, signature.ErrBadSecret):
		return misconfigured("secret is not whsec_ and base64")
	}
	return ErrMismatch
}

// hasV1Entry reports whether a signature header has any "v1," entry; one
// without is not something this scheme can check.
func hasV1Entry(sig string) bool {
	for entry := range strings.FieldsSeq(sig) {
		if strings.HasPrefix(entry, "v1,") {
			return true
		}
	}
	return false
}

func signStandard(h http.Header, secret string, body []byte, id string, now time.Time) error {
	if id == "" {
		return sluice.Errorf(sluice.EINVALID, "id: required to sign a standard-webhooks message")
	}
	s, err := signature.NewSigner(secret)
	if err != nil {
		return sluice.Errorf(sluice.EINVALID, "verification.secret: %v", err)
	}
	h.Set(standardID, id)
	h.Set(standardTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standardSignature, s.Sign(id, now, body))
	return nil
}
