package inbound_test

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

const tokenSecret = "tok_test_81f0c2d9"

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	custom := &sluice.Verification{Type: sluice.VerifyToken, Header: "X-Webhook-Token", Secret: tokenSecret}
	auth := &sluice.Verification{Type: sluice.VerifyToken, Header: "Authorization", Secret: tokenSecret}
	for _, tc := range []struct {
		name   string
		v      *sluice.Verification
		header http.Header
		want   error
	}{
		{name: "custom header", v: custom, header: http.Header{"X-Webhook-Token": {tokenSecret}}, want: nil},
		{name: "custom header, lower-case key", v: custom, header: http.Header{"x-webhook-token": {tokenSecret}}, want: nil},
		{name: "custom header, wrong token", v: custom, header: http.Header{"X-Webhook-Token": {tokenSecret + "x"}}, want: inbound.ErrMismatch},
		{name: "custom header, prefix of the token", v: custom, header: http.Header{"X-Webhook-Token": {tokenSecret[:5]}}, want: inbound.ErrMismatch},
		{name: "custom header, Bearer not stripped", v: custom, header: http.Header{"X-Webhook-Token": {"Bearer " + tokenSecret}}, want: inbound.ErrMismatch},
		{name: "custom header missing", v: custom, header: http.Header{"Authorization": {tokenSecret}}, want: inbound.ErrMissing},
		{name: "Authorization, raw", v: auth, header: http.Header{"Authorization": {tokenSecret}}, want: nil},
		{name: "Authorization, Bearer", v: auth, header: http.Header{"Authorization": {"Bearer " + tokenSecret}}, want: nil},
		{name: "Authorization, bearer in lower case", v: auth, header: http.Header{"Authorization": {"bearer " + tokenSecret}}, want: nil},
		{name: "Authorization, wrong Bearer", v: auth, header: http.Header{"Authorization": {"Bearer nope"}}, want: inbound.ErrMismatch},
		{name: "Authorization, Basic", v: auth, header: http.Header{"Authorization": {"Basic " + tokenSecret}}, want: inbound.ErrMismatch},
		{name: "Authorization missing", v: auth, header: http.Header{}, want: inbound.ErrMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantReason(t, inbound.Verify(tc.v, tc.header, nil, now), tc.want, tokenSecret)
		})
	}
}

func TestSignToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want string }{
		{"X-Webhook-Token", tokenSecret},
		{"authorization", "Bearer " + tokenSecret},
	} {
		v := &sluice.Verification{Type: sluice.VerifyToken, Header: tc.header, Secret: tokenSecret}
		h, err := inbound.Sign(v, nil, "", now)
		if err != nil {
			t.Fatalf("Sign(%s): %v", tc.header, err)
		}
		if h.Get(tc.header) != tc.want {
			t.Errorf("Sign(%s) did not set the expected token form", tc.header)
		}
		if err := inbound.Verify(v, h, nil, now); err != nil {
			t.Errorf("Verify(Sign(%s)) = %v", tc.header, err)
		}
	}
}
