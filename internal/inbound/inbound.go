// Package inbound verifies the webhooks that providers post to a source
// (docs/api.md, "Sources and ingest"), finds values such as the event type
// in them, and signs test webhooks the way each provider would, for
// `sluice send`.
//
// Every verifier reads only the request's headers and raw body, compares
// secrets in constant time, and reports failures as one of four reason
// classes whose texts never carry a secret or a header value.
package inbound

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Errors from Verify: a reason class, safe to log and show. Verify returns
// one of these, possibly wrapped with more safe context.
var (
	ErrMissing   = errors.New("signature or credentials missing")
	ErrMalformed = errors.New("signature header malformed")
	ErrMismatch  = errors.New("signature does not match")
	ErrStale     = errors.New("timestamp outside the tolerance")
)

// Tolerance is the accepted clock skew for timed schemes (stripe,
// standard-webhooks), in either direction: 5 minutes, as Stripe and the
// Standard Webhooks libraries use.
const Tolerance = 5 * time.Minute

// misconfigured reports a verification that cannot check anything, such as
// one with an empty secret. It wraps ErrMismatch so that a broken source
// fails closed (401) like any other bad request, while the log says why.
func misconfigured(reason string) error {
	return fmt.Errorf("source verification misconfigured (%s): %w", reason, ErrMismatch)
}

// Verify checks a request's headers and raw body against v at time now; nil
// means the request is genuine. It returns ErrMissing, ErrMalformed,
// ErrMismatch or ErrStale, possibly wrapped. A configuration that cannot
// verify anything (nil, unknown type, empty secret) fails closed with a
// wrapped ErrMismatch. Empty Algorithm and Encoding take Check's defaults.
// All secret comparisons are constant-time.
func Verify(v *sluice.Verification, h http.Header, body []byte, now time.Time) error {
	if v == nil {
		return misconfigured("no verification")
	}
	switch v.Type {
	case sluice.VerifyNone:
		return nil
	case sluice.VerifyStripe:
		return verifyStripe(v.Secret, h, body, now)
	case sluice.VerifyGitHub:
		return verifyGitHub(v.Secret, h, body)
	case sluice.VerifyShopify:
		return verifyShopify(v.Secret, h, body)
	case sluice.VerifyStandardWebhooks:
		return verifyStandard(v.Secret, h, body, now)
	case sluice.VerifyHMAC:
		return verifyHMAC(v, h, body)
	case sluice.VerifyBasic:
		return verifyBasic(v.Username, v.Password, h)
	case sluice.VerifyToken:
		return verifyToken(v.Header, v.Secret, h)
	}
	return misconfigured("unknown type")
}

// SignatureHeaders returns the canonical names of the headers that carry v's
// signature or credentials, which must never be stored. The caller drops
// Authorization, Cookie and Set-Cookie on its own as well. Identifying
// headers that are not secret (webhook-id, webhook-timestamp) are not listed:
// they are useful when debugging and may be event id paths.
func SignatureHeaders(v *sluice.Verification) []string {
	if v == nil {
		return nil
	}
	switch v.Type {
	case sluice.VerifyStripe:
		return []string{stripeHeader}
	case sluice.VerifyGitHub:
		// GitHub sends the legacy SHA-1 signature too; it is just as secret.
		return []string{githubHeader, githubLegacyHeader}
	case sluice.VerifyShopify:
		return []string{shopifyHeader}
	case sluice.VerifyStandardWebhooks:
		return []string{canonical(standardSignature), canonical(svixSignature)}
	case sluice.VerifyHMAC, sluice.VerifyToken:
		if v.Header == "" {
			return nil
		}
		return []string{canonical(v.Header)}
	case sluice.VerifyBasic:
		return []string{"Authorization"}
	}
	return nil
}

// Sign returns the headers a genuine provider would send with body at time
// now, so `sluice send` can post a correctly signed test webhook. id is the
// provider's event or delivery id where the scheme carries one in a header
// (github, shopify, standard-webhooks; required by the last); stripe keeps
// its id in the body and ignores it. Headers that name the event type
// (X-GitHub-Event, X-Shopify-Topic) are not derived from the body: the
// caller adds them. Type none gives an empty header and no error. An invalid
// configuration gives Check's EINVALID error.
func Sign(v *sluice.Verification, body []byte, id string, now time.Time) (http.Header, error) {
	if v == nil {
		return nil, sluice.Errorf(sluice.EINVALID, "verification: required")
	}
	c := *v
	if err := Check(&c); err != nil {
		return nil, err
	}
	h := http.Header{}
	switch c.Type {
	case sluice.VerifyStripe:
		signStripe(h, c.Secret, body, now)
	case sluice.VerifyGitHub:
		signGitHub(h, c.Secret, body, id)
	case sluice.VerifyShopify:
		signShopify(h, c.Secret, body, id)
	case sluice.VerifyStandardWebhooks:
		if err := signStandard(h, c.Secret, body, id, now); err != nil {
			return nil, err
		}
	case sluice.VerifyHMAC:
		signHMAC(h, &c, body)
	case sluice.VerifyBasic:
		signBasic(h, c.Username, c.Password)
	case sluice.VerifyToken:
		signToken(h, c.Header, c.Secret)
	}
	return h, nil
}

// headerValue returns the first value of the named header, trimmed, or ""
// when there is none.
func headerValue(h http.Header, name string) string {
	v, _ := firstHeader(h, name)
	return strings.TrimSpace(v)
}

// firstHeader returns the first value of the named header and whether the
// header is there. It falls back to a case-insensitive scan so that headers
// built by hand with non-canonical keys (as some clients and tests do) are
// still found.
func firstHeader(h http.Header, name string) (string, bool) {
	if vs, ok := h[canonical(name)]; ok && len(vs) > 0 {
		return vs[0], true
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0], true
		}
	}
	return "", false
}

func canonical(name string) string {
	return textproto.CanonicalMIMEHeaderKey(name)
}

// equalSecret returns 1 when got equals want and 0 otherwise. It compares
// SHA-256 digests in constant time, so the time taken tells neither where
// the values differ nor whether their lengths do.
func equalSecret(got, want string) int {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:])
}
