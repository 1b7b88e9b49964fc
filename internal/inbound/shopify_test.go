package inbound_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

const shopifySecret = "shpss_test_0b9e2d7c41a6"

func shopifySource(secret string) *sluice.Verification {
	return &sluice.Verification{Type: sluice.VerifyShopify, Secret: secret}
}

// shopifySignature computes the header the way Shopify documents it; there
// is no official Go signer.
func shopifySignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyShopify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":820982911946154500,"email":"jon@example.com"}`)
	genuine := shopifySignature(shopifySecret, body)
	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
		want   error
	}{
		{name: "genuine", header: http.Header{"X-Shopify-Hmac-Sha256": {genuine}}, want: nil},
		{name: "header name in another case", header: http.Header{"x-shopify-hmac-sha256": {genuine}}, want: nil},
		{name: "tampered body", header: http.Header{"X-Shopify-Hmac-Sha256": {genuine}}, body: `{"id":1}`, want: inbound.ErrMismatch},
		{name: "wrong secret", header: http.Header{"X-Shopify-Hmac-Sha256": {shopifySignature("not-it", body)}}, want: inbound.ErrMismatch},
		{name: "missing", header: http.Header{}, want: inbound.ErrMissing},
		{name: "empty", header: http.Header{"X-Shopify-Hmac-Sha256": {""}}, want: inbound.ErrMissing},
		{name: "not base64", header: http.Header{"X-Shopify-Hmac-Sha256": {"!!!"}}, want: inbound.ErrMalformed},
		{name: "hex instead of base64", header: http.Header{"X-Shopify-Hmac-Sha256": {"abcdef"}}, want: inbound.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := body
			if tc.body != "" {
				b = []byte(tc.body)
			}
			wantReason(t, inbound.Verify(shopifySource(shopifySecret), tc.header, b, now), tc.want, shopifySecret, genuine)
		})
	}
}

func TestSignShopify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":1,"email":"a@example.com"}`)
	h, err := inbound.Sign(shopifySource(shopifySecret), body, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", now)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got, want := h.Get("X-Shopify-Hmac-Sha256"), shopifySignature(shopifySecret, body); got != want {
		t.Error("X-Shopify-Hmac-Sha256 is not the documented HMAC")
	}
	if got, want := h.Get("X-Shopify-Webhook-Id"), "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"; got != want {
		t.Errorf("X-Shopify-Webhook-Id = %q, want %q", got, want)
	}
	if err := inbound.Verify(shopifySource(shopifySecret), h, body, now); err != nil {
		t.Errorf("Verify(Sign) = %v", err)
	}
}
