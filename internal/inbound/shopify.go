package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

const (
	shopifyHeader    = "X-Shopify-Hmac-Sha256"
	shopifyWebhookID = "X-Shopify-Webhook-Id"
)

// verifyShopify checks "X-Shopify-Hmac-Sha256: <base64>", HMAC-SHA256 of the
// body keyed with the secret as given.
func verifyShopify(secret string, h http.Header, body []byte) error {
	if secret == "" {
		return misconfigured("empty secret")
	}
	header := headerValue(h, shopifyHeader)
	if header == "" {
		return ErrMissing
	}
	got, err := base64.StdEncoding.DecodeString(header)
	if err != nil || len(got) != sha256.Size {
		return ErrMalformed
	}
	if !hmac.Equal(got, macSHA256(secret, body)) {
		return ErrMismatch
	}
	return nil
}

func signShopify(h http.Header, secret string, body []byte, id string) {
	h.Set(shopifyHeader, base64.StdEncoding.EncodeToString(macSHA256(secret, body)))
	if id != "" {
		h.Set(shopifyWebhookID, id)
	}
}
