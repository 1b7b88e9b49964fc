package inbound_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v75/github"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

const githubSecret = "gh-test-secret-4f1d8a"

func githubSource(secret string) *sluice.Verification {
	return &sluice.Verification{Type: sluice.VerifyGitHub, Secret: secret}
}

func githubSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestVerifyGitHub(t *testing.T) {
	t.Parallel()
	body := []byte(`{"action":"opened","number":7}`)
	genuine := githubSignature(githubSecret, body)
	legacy := hmac.New(sha1.New, []byte(githubSecret))
	legacy.Write(body)

	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
		want   error
	}{
		{name: "genuine", header: http.Header{"X-Hub-Signature-256": {genuine}}, want: nil},
		{name: "upper-case hex", header: http.Header{"X-Hub-Signature-256": {"sha256=" + strings.ToUpper(genuine[7:])}}, want: nil},
		{name: "tampered body", header: http.Header{"X-Hub-Signature-256": {genuine}}, body: `{"action":"closed","number":7}`, want: inbound.ErrMismatch},
		{name: "wrong secret", header: http.Header{"X-Hub-Signature-256": {githubSignature("not-it", body)}}, want: inbound.ErrMismatch},
		{name: "missing", header: http.Header{}, want: inbound.ErrMissing},
		{name: "only the legacy SHA-1 header", header: http.Header{"X-Hub-Signature": {"sha1=" + hex.EncodeToString(legacy.Sum(nil))}}, want: inbound.ErrMissing},
		{name: "no sha256= prefix", header: http.Header{"X-Hub-Signature-256": {genuine[7:]}}, want: inbound.ErrMalformed},
		{name: "sha1 prefix in the sha256 header", header: http.Header{"X-Hub-Signature-256": {"sha1=" + genuine[7:]}}, want: inbound.ErrMalformed},
		{name: "not hex", header: http.Header{"X-Hub-Signature-256": {"sha256=xyz"}}, want: inbound.ErrMalformed},
		{name: "truncated", header: http.Header{"X-Hub-Signature-256": {genuine[:len(genuine)-2]}}, want: inbound.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := body
			if tc.body != "" {
				b = []byte(tc.body)
			}
			wantReason(t, inbound.Verify(githubSource(githubSecret), tc.header, b, now), tc.want, githubSecret, genuine)
		})
	}
}

// Our test signatures must pass go-github's verifier.
func TestSignGitHubValidatesWithGoGitHub(t *testing.T) {
	t.Parallel()
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	h, err := inbound.Sign(githubSource(githubSecret), body, "72d3162e-cc78-11e3-81ab-4c9367dc0958", now)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	sig := h.Get(github.SHA256SignatureHeader)
	if err := github.ValidateSignature(sig, body, []byte(githubSecret)); err != nil {
		t.Errorf("go-github ValidateSignature: %v", err)
	}
	if err := github.ValidateSignature(sig, body, []byte("not-it")); err == nil {
		t.Error("go-github accepted our signature under another secret")
	}
	if got, want := h.Get(github.DeliveryIDHeader), "72d3162e-cc78-11e3-81ab-4c9367dc0958"; got != want {
		t.Errorf("%s = %q, want %q", github.DeliveryIDHeader, got, want)
	}
	if err := inbound.Verify(githubSource(githubSecret), h, body, now); err != nil {
		t.Errorf("Verify(Sign) = %v", err)
	}
}
