package inbound_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

func TestCheckAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   sluice.Verification
		want sluice.Verification // after defaults are filled in
	}{
		{"none", sluice.Verification{Type: "none"}, sluice.Verification{Type: "none"}},
		{"stripe", sluice.Verification{Type: "stripe", Secret: stripeSecret}, sluice.Verification{Type: "stripe", Secret: stripeSecret}},
		{"github", sluice.Verification{Type: "github", Secret: githubSecret}, sluice.Verification{Type: "github", Secret: githubSecret}},
		{"shopify", sluice.Verification{Type: "shopify", Secret: shopifySecret}, sluice.Verification{Type: "shopify", Secret: shopifySecret}},
		{"standard-webhooks, 32-byte key", sluice.Verification{Type: "standard-webhooks", Secret: standardSecret}, sluice.Verification{Type: "standard-webhooks", Secret: standardSecret}},
		{"standard-webhooks, 24-byte key", sluice.Verification{Type: "standard-webhooks", Secret: otherStdSecret}, sluice.Verification{Type: "standard-webhooks", Secret: otherStdSecret}},
		{
			"hmac defaults",
			sluice.Verification{Type: "hmac", Secret: hmacSecret, Header: "x-signature"},
			sluice.Verification{Type: "hmac", Secret: hmacSecret, Header: "X-Signature", Algorithm: "sha256", Encoding: "hex"},
		},
		{
			"hmac in full, upper case normalised",
			sluice.Verification{Type: "hmac", Secret: hmacSecret, Header: "X-Sig", Algorithm: "SHA512", Encoding: "Base64", Prefix: "sha512="},
			sluice.Verification{Type: "hmac", Secret: hmacSecret, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64", Prefix: "sha512="},
		},
		{"hmac sha1", sluice.Verification{Type: "hmac", Secret: hmacSecret, Header: "X-Sig", Algorithm: "sha1"}, sluice.Verification{Type: "hmac", Secret: hmacSecret, Header: "X-Sig", Algorithm: "sha1", Encoding: "hex"}},
		{"basic", sluice.Verification{Type: "basic", Username: "u", Password: "p:w"}, sluice.Verification{Type: "basic", Username: "u", Password: "p:w"}},
		{"token", sluice.Verification{Type: "token", Header: "authorization", Secret: tokenSecret}, sluice.Verification{Type: "token", Header: "Authorization", Secret: tokenSecret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.in
			if err := inbound.Check(&got); err != nil {
				t.Fatalf("Check = %v", err)
			}
			if got != tc.want {
				t.Errorf("after Check: type %q header %q algorithm %q encoding %q prefix %q; want header %q algorithm %q encoding %q prefix %q",
					got.Type, got.Header, got.Algorithm, got.Encoding, got.Prefix, tc.want.Header, tc.want.Algorithm, tc.want.Encoding, tc.want.Prefix)
			}
		})
	}
}

func TestCheckRejects(t *testing.T) {
	t.Parallel()
	const secret = "S3cr3t-value-that-must-not-leak"
	long := strings.Repeat("k", 1025)
	for _, tc := range []struct {
		name string
		v    *sluice.Verification
		want string
	}{
		{"nil", nil, "verification: required"},
		{"no type", &sluice.Verification{Secret: secret}, "verification.type: required"},
		{"unknown type", &sluice.Verification{Type: "Stripe", Secret: secret}, "verification.type: must be none, stripe, github, shopify, standard-webhooks, hmac, basic or token"},
		{"none with a secret", &sluice.Verification{Type: "none", Secret: secret}, "verification.secret: not used by type none"},
		{"stripe without secret", &sluice.Verification{Type: "stripe"}, "verification.secret: required"},
		{"stripe with a header", &sluice.Verification{Type: "stripe", Secret: secret, Header: "X-Sig"}, "verification.header: not used by type stripe"},
		{"stripe secret with a newline", &sluice.Verification{Type: "stripe", Secret: secret + "\n"}, "verification.secret: must not start or end with white space"},
		{"stripe secret too long", &sluice.Verification{Type: "stripe", Secret: long}, "verification.secret: at most 1024 bytes"},
		{"github secret not UTF-8", &sluice.Verification{Type: "github", Secret: secret + "\xff"}, "verification.secret: must be valid UTF-8"},
		{"github with a password", &sluice.Verification{Type: "github", Secret: secret, Password: secret}, "verification.password: not used by type github"},
		{"shopify without secret", &sluice.Verification{Type: "shopify"}, "verification.secret: required"},
		{"standard-webhooks without whsec_", &sluice.Verification{Type: "standard-webhooks", Secret: secret}, "verification.secret: must be whsec_ followed by base64 of 24 to 64 bytes"},
		{"standard-webhooks key too short", &sluice.Verification{Type: "standard-webhooks", Secret: "whsec_c2hvcnQ="}, "verification.secret: must be whsec_ followed by base64 of 24 to 64 bytes"},
		{"standard-webhooks not base64", &sluice.Verification{Type: "standard-webhooks", Secret: "whsec_" + secret}, "verification.secret: must be whsec_ followed by base64 of 24 to 64 bytes"},
		{"hmac without secret", &sluice.Verification{Type: "hmac", Header: "X-Sig"}, "verification.secret: required"},
		{"hmac without header", &sluice.Verification{Type: "hmac", Secret: secret}, "verification.header: required"},
		{"hmac header with a space", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X Sig"}, "verification.header: must be a valid HTTP header name"},
		{"hmac header with a colon", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X-Sig:"}, "verification.header: must be a valid HTTP header name"},
		{"hmac md5", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X-Sig", Algorithm: "md5"}, "verification.algorithm: must be sha256, sha512 or sha1"},
		{"hmac base32", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X-Sig", Encoding: "base32"}, "verification.encoding: must be hex or base64"},
		{"hmac prefix with a control character", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X-Sig", Prefix: "v1\x00"}, "verification.prefix: must be printable ASCII"},
		{"hmac prefix starting with a space", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X-Sig", Prefix: " v1="}, "verification.prefix: must not start with a space"},
		{"hmac prefix too long", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X-Sig", Prefix: strings.Repeat("p", 65)}, "verification.prefix: at most 64 bytes"},
		{"hmac with a username", &sluice.Verification{Type: "hmac", Secret: secret, Header: "X-Sig", Username: "u"}, "verification.username: not used by type hmac"},
		{"basic without username", &sluice.Verification{Type: "basic", Password: secret}, "verification.username: required"},
		{"basic without password", &sluice.Verification{Type: "basic", Username: "u"}, "verification.password: required"},
		{"basic username with a colon", &sluice.Verification{Type: "basic", Username: "a:b", Password: secret}, "verification.username: must not contain ':'"},
		{"basic password with white space around", &sluice.Verification{Type: "basic", Username: "u", Password: " " + secret}, "verification.password: must not start or end with white space"},
		{"basic with a secret", &sluice.Verification{Type: "basic", Username: "u", Password: "p", Secret: secret}, "verification.secret: not used by type basic"},
		{"token without header", &sluice.Verification{Type: "token", Secret: secret}, "verification.header: required"},
		{"token without secret", &sluice.Verification{Type: "token", Header: "X-Token"}, "verification.secret: required"},
		{"token with a control character", &sluice.Verification{Type: "token", Header: "X-Token", Secret: secret + "\r\nX: y"}, "verification.secret: must be a valid HTTP header value"},
		{"token with an algorithm", &sluice.Verification{Type: "token", Header: "X-Token", Secret: secret, Algorithm: "sha256"}, "verification.algorithm: not used by type token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := inbound.Check(tc.v)
			if sluice.ErrorCode(err) != sluice.EINVALID {
				t.Fatalf("Check = %v, want an EINVALID error", err)
			}
			msg := sluice.ErrorMessage(err)
			if msg != tc.want {
				t.Errorf("message = %q, want %q", msg, tc.want)
			}
			leaks := []string{secret}
			if tc.v != nil && len(tc.v.Secret) > len("whsec_") {
				leaks = append(leaks, tc.v.Secret)
			}
			for _, s := range leaks {
				if strings.Contains(err.Error(), s) {
					t.Error("error text contains the secret")
				}
			}
		})
	}
}
