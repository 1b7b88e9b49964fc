package inbound_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

func TestVerifyNoneAcceptsAnything(t *testing.T) {
	t.Parallel()
	v := &sluice.Verification{Type: sluice.VerifyNone}
	for _, h := range []http.Header{nil, {}, {"Stripe-Signature": {"garbage"}}} {
		if err := inbound.Verify(v, h, []byte("anything"), now); err != nil {
			t.Errorf("Verify(none) = %v, want nil", err)
		}
	}
}

// A configuration that cannot verify anything must reject, never accept.
// In particular an empty secret must not turn into an HMAC key anyone can
// compute.
func TestVerifyFailsClosed(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1"}`)
	emptyKeyMAC := hmac.New(sha256.New, nil)
	emptyKeyMAC.Write(body)
	emptyHex := hex.EncodeToString(emptyKeyMAC.Sum(nil))
	h := http.Header{
		"X-Hub-Signature-256": {"sha256=" + emptyHex},
		"X-Signature":         {emptyHex},
		"Authorization":       {"Basic Og=="}, // ":"
		"X-Token":             {""},
	}
	for _, tc := range []struct {
		name string
		v    *sluice.Verification
	}{
		{"nil", nil},
		{"no type", &sluice.Verification{}},
		{"unknown type", &sluice.Verification{Type: "magic"}},
		{"github without secret", &sluice.Verification{Type: sluice.VerifyGitHub}},
		{"stripe without secret", &sluice.Verification{Type: sluice.VerifyStripe}},
		{"shopify without secret", &sluice.Verification{Type: sluice.VerifyShopify}},
		{"standard-webhooks with a bad secret", &sluice.Verification{Type: sluice.VerifyStandardWebhooks, Secret: "not-whsec"}},
		{"hmac without secret", &sluice.Verification{Type: sluice.VerifyHMAC, Header: "X-Signature"}},
		{"hmac without header", &sluice.Verification{Type: sluice.VerifyHMAC, Secret: "s"}},
		{"hmac with an unknown algorithm", &sluice.Verification{Type: sluice.VerifyHMAC, Secret: "s", Header: "X-Signature", Algorithm: "md5"}},
		{"basic without credentials", &sluice.Verification{Type: sluice.VerifyBasic}},
		{"token without secret", &sluice.Verification{Type: sluice.VerifyToken, Header: "X-Token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantReason(t, inbound.Verify(tc.v, h, body, now), inbound.ErrMismatch)
		})
	}
}

func TestSignatureHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    *sluice.Verification
		want []string
	}{
		{&sluice.Verification{Type: sluice.VerifyNone}, nil},
		{&sluice.Verification{Type: sluice.VerifyStripe}, []string{"Stripe-Signature"}},
		{&sluice.Verification{Type: sluice.VerifyGitHub}, []string{"X-Hub-Signature-256", "X-Hub-Signature"}},
		{&sluice.Verification{Type: sluice.VerifyShopify}, []string{"X-Shopify-Hmac-Sha256"}},
		{&sluice.Verification{Type: sluice.VerifyStandardWebhooks}, []string{"Webhook-Signature", "Svix-Signature"}},
		{&sluice.Verification{Type: sluice.VerifyHMAC, Header: "x-signature"}, []string{"X-Signature"}},
		{&sluice.Verification{Type: sluice.VerifyBasic}, []string{"Authorization"}},
		{&sluice.Verification{Type: sluice.VerifyToken, Header: "x-api-key"}, []string{"X-Api-Key"}},
		{&sluice.Verification{Type: "magic"}, nil},
		{nil, nil},
	} {
		if got := inbound.SignatureHeaders(tc.v); !slices.Equal(got, tc.want) {
			t.Errorf("SignatureHeaders(%s) = %q, want %q", typeOf(tc.v), got, tc.want)
		}
	}
}

// Every header Sign sets that carries a signature or credential must be
// among SignatureHeaders, so that a stored copy never holds one.
func TestSignatureHeadersCoverSign(t *testing.T) {
	t.Parallel()
	for _, v := range []*sluice.Verification{
		{Type: sluice.VerifyStripe, Secret: stripeSecret},
		{Type: sluice.VerifyGitHub, Secret: githubSecret},
		{Type: sluice.VerifyShopify, Secret: shopifySecret},
		{Type: sluice.VerifyStandardWebhooks, Secret: standardSecret},
		{Type: sluice.VerifyHMAC, Secret: hmacSecret, Header: "X-Sig"},
		{Type: sluice.VerifyBasic, Username: "u", Password: "p"},
		{Type: sluice.VerifyToken, Secret: tokenSecret, Header: "X-Token"},
	} {
		h, err := inbound.Sign(v, []byte(`{}`), "id_1", now)
		if err != nil {
			t.Fatalf("Sign(%s): %v", v.Type, err)
		}
		drop := inbound.SignatureHeaders(v)
		if !slices.ContainsFunc(drop, func(name string) bool { return h.Get(name) != "" }) {
			t.Errorf("Sign(%s) set no header SignatureHeaders lists", v.Type)
		}
		// What may stay is only an id (X-Github-Delivery, X-Shopify-Webhook-Id,
		// webhook-id) and the Standard Webhooks timestamp.
		for name := range h {
			if slices.Contains(drop, name) {
				continue
			}
			switch name {
			case "X-Github-Delivery", "X-Shopify-Webhook-Id", "Webhook-Id", "Webhook-Timestamp":
			default:
				t.Errorf("Sign(%s) set %s, which SignatureHeaders does not list", v.Type, name)
			}
		}
	}
}

func TestSignNone(t *testing.T) {
	t.Parallel()
	h, err := inbound.Sign(&sluice.Verification{Type: sluice.VerifyNone}, []byte(`{}`), "id", now)
	if err != nil || h == nil || len(h) != 0 {
		t.Errorf("Sign(none) = %v, %v; want an empty header and nil", h, err)
	}
}

func TestSignRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	for _, v := range []*sluice.Verification{
		nil,
		{Type: "magic"},
		{Type: sluice.VerifyStripe},
		{Type: sluice.VerifyHMAC, Secret: "s", Header: "X-Sig", Algorithm: "md5"},
	} {
		if _, err := inbound.Sign(v, []byte(`{}`), "id", now); sluice.ErrorCode(err) != sluice.EINVALID {
			t.Errorf("Sign(%s) = %v, want an EINVALID error", typeOf(v), err)
		}
	}
}

func typeOf(v *sluice.Verification) string {
	if v == nil {
		return "nil"
	}
	return v.Type
}
