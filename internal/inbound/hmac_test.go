package inbound_test

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
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

const hmacSecret = "hmac-test-secret-93e1"

var hashes = map[string]func() hash.Hash{"sha256": sha256.New, "sha512": sha512.New, "sha1": sha1.New}

// hmacSignature computes a generic HMAC header value with crypto/hmac.
func hmacSignature(algorithm, encoding, prefix, secret string, body []byte) string {
	m := hmac.New(hashes[algorithm], []byte(secret))
	m.Write(body)
	if encoding == "base64" {
		return prefix + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return prefix + hex.EncodeToString(m.Sum(nil))
}

type hmacCase struct {
	name   string
	header string // "" leaves the header out
	body   string // "" keeps the signed body
	want   error
}

func TestVerifyHMAC(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"order.created","id":"ord_1"}`)
	for _, alg := range []string{"sha256", "sha512", "sha1"} {
		for _, enc := range []string{"hex", "base64"} {
			for _, prefix := range []string{"", alg + "="} {
				t.Run(alg+"/"+enc+"/prefix="+prefix, func(t *testing.T) {
					t.Parallel()
					v := &sluice.Verification{Type: sluice.VerifyHMAC, Secret: hmacSecret, Header: "X-Signature", Algorithm: alg, Encoding: enc, Prefix: prefix}
					genuine := hmacSignature(alg, enc, prefix, hmacSecret, body)
					bare := strings.TrimPrefix(genuine, prefix)
					cases := []hmacCase{
						{name: "genuine", header: genuine, want: nil},
						{name: "tampered body", header: genuine, body: `{"type":"order.created","id":"ord_2"}`, want: inbound.ErrMismatch},
						{name: "wrong secret", header: hmacSignature(alg, enc, prefix, "not-it", body), want: inbound.ErrMismatch},
						{name: "missing", header: "", want: inbound.ErrMissing},
						{name: "not encoded", header: prefix + "%%%", want: inbound.ErrMalformed},
					}
					if enc == "hex" {
						cases = append(cases, hmacCase{name: "upper-case hex", header: prefix + strings.ToUpper(bare), want: nil})
					} else {
						cases = append(cases, hmacCase{name: "unpadded base64", header: prefix + strings.TrimRight(bare, "="), want: nil})
					}
					if prefix != "" {
						cases = append(cases, hmacCase{name: "prefix missing", header: bare, want: inbound.ErrMalformed})
					}
					for _, tc := range cases {
						h := http.Header{}
						if tc.header != "" {
							h.Set("X-Signature", tc.header)
						}
						b := body
						if tc.body != "" {
							b = []byte(tc.body)
						}
						t.Run(tc.name, func(t *testing.T) {
							wantReason(t, inbound.Verify(v, h, b, now), tc.want, hmacSecret, genuine)
						})
					}

					signed, err := inbound.Sign(v, body, "", now)
					if err != nil {
						t.Fatalf("Sign: %v", err)
					}
					if signed.Get("X-Signature") != genuine {
						t.Error("Sign's header differs from the crypto/hmac signature")
					}
					if err := inbound.Verify(v, signed, body, now); err != nil {
						t.Errorf("Verify(Sign) = %v", err)
					}
				})
			}
		}
	}
}

// Empty algorithm and encoding mean sha256 and hex, in Verify as in Check.
func TestVerifyHMACDefaults(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":1}`)
	v := &sluice.Verification{Type: sluice.VerifyHMAC, Secret: hmacSecret, Header: "x-webhook-signature"}
	h := http.Header{"X-Webhook-Signature": {hmacSignature("sha256", "hex", "", hmacSecret, body)}}
	if err := inbound.Verify(v, h, body, now); err != nil {
		t.Errorf("Verify with defaults = %v", err)
	}
	if err := inbound.Check(v); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if v.Algorithm != "sha256" || v.Encoding != "hex" || v.Header != "X-Webhook-Signature" {
		t.Errorf("Check filled algorithm %q, encoding %q, header %q; want sha256, hex, X-Webhook-Signature", v.Algorithm, v.Encoding, v.Header)
	}
	if err := inbound.Verify(v, h, body, now); err != nil {
		t.Errorf("Verify after Check = %v", err)
	}
}
