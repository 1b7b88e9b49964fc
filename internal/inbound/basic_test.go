package inbound_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

const basicPassword = "pa:ss-w0rd-7c1e" // a colon in a password is allowed

func basicSource() *sluice.Verification {
	return &sluice.Verification{Type: sluice.VerifyBasic, Username: "provider", Password: basicPassword}
}

// basicHeader builds the header with net/http's own encoder.
func basicHeader(t *testing.T, user, pass string) http.Header {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/in/src_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(user, pass)
	return r.Header
}

func TestVerifyBasic(t *testing.T) {
	t.Parallel()
	raw := func(s string) http.Header { return http.Header{"Authorization": {s}} }
	for _, tc := range []struct {
		name   string
		header http.Header
		want   error
	}{
		{name: "genuine", header: basicHeader(t, "provider", basicPassword), want: nil},
		{name: "scheme in lower case", header: raw("basic " + base64.StdEncoding.EncodeToString([]byte("provider:"+basicPassword))), want: nil},
		{name: "wrong username", header: basicHeader(t, "provide", basicPassword), want: inbound.ErrMismatch},
		{name: "wrong password", header: basicHeader(t, "provider", basicPassword+"x"), want: inbound.ErrMismatch},
		{name: "both wrong", header: basicHeader(t, "x", "y"), want: inbound.ErrMismatch},
		{name: "swapped", header: basicHeader(t, basicPassword, "provider"), want: inbound.ErrMismatch},
		{name: "empty credentials", header: basicHeader(t, "", ""), want: inbound.ErrMismatch},
		{name: "missing", header: http.Header{}, want: inbound.ErrMissing},
		{name: "bearer instead", header: raw("Bearer " + basicPassword), want: inbound.ErrMalformed},
		{name: "no credentials after the scheme", header: raw("Basic"), want: inbound.ErrMalformed},
		{name: "not base64", header: raw("Basic %%%"), want: inbound.ErrMalformed},
		{name: "no colon", header: raw("Basic " + base64.StdEncoding.EncodeToString([]byte("provider"))), want: inbound.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantReason(t, inbound.Verify(basicSource(), tc.header, nil, now), tc.want, basicPassword, tc.header.Get("Authorization"))
		})
	}
}

func TestSignBasic(t *testing.T) {
	t.Parallel()
	h, err := inbound.Sign(basicSource(), []byte(`{}`), "", now)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	r := &http.Request{Header: h}
	user, pass, ok := r.BasicAuth()
	if !ok || user != "provider" || pass != basicPassword {
		t.Error("net/http does not read Sign's Authorization back as the configured credentials")
	}
	if err := inbound.Verify(basicSource(), h, nil, now); err != nil {
		t.Errorf("Verify(Sign) = %v", err)
	}
}
