package sluice

import (
	"strings"
	"testing"
	"time"
)

func TestDestinationExposureValidate(t *testing.T) {
	base := func() *Destination {
		return &Destination{Name: "d", EventTypes: []string{"*"}}
	}
	tests := []struct {
		name  string
		set   func(d *Destination)
		field string // "" when valid
	}{
		{"defaults", func(*Destination) {}, ""},
		{"thin", func(d *Destination) { d.Delivery, d.FetchTTL = DeliveryThin, time.Minute }, ""},
		{"unknown delivery", func(d *Destination) { d.Delivery = "fat" }, "delivery"},
		{"fetch ttl below a second", func(d *Destination) { d.FetchTTL = time.Millisecond }, "fetch_ttl_seconds"},
		{"fetch ttl over a day", func(d *Destination) { d.FetchTTL = 25 * time.Hour }, "fetch_ttl_seconds"},
		{"pseudonymize", func(d *Destination) { d.Pseudonymize = []string{"customer.email"} }, ""},
		{"pseudonymize bad path", func(d *Destination) { d.Pseudonymize = []string{"a..b"} }, "pseudonymize[0]"},
		{"grant", func(d *Destination) {
			d.PersonalData = PersonalDataGrant{Allowed: true, Purpose: "support", LawfulBasis: "contract"}
		}, ""},
		{"grant without basis", func(d *Destination) {
			d.PersonalData = PersonalDataGrant{Allowed: true, Purpose: "support"}
		}, "personal_data"},
		{"unknown basis", func(d *Destination) { d.Processing.LawfulBasis = "because" }, "lawful_basis"},
		{"purpose on two lines", func(d *Destination) { d.Processing.Purpose = "a\nb" }, "purpose"},
		{"header", func(d *Destination) { d.Headers = map[string]string{"X-Team": "a"} }, ""},
		{"bad header name", func(d *Destination) { d.Headers = map[string]string{"X Team": "a"} }, "headers"},
		{"signature header", func(d *Destination) { d.Headers = map[string]string{"webhook-signature": "a"} }, "headers"},
		{"header value on two lines", func(d *Destination) { d.Headers = map[string]string{"X-A": "a\r\nB: c"} }, "headers"},
		{"authorization with auth", func(d *Destination) {
			d.Headers = map[string]string{"Authorization": "x"}
			d.Auth = DestinationAuth{Type: AuthBearer, Token: "t"}
		}, "headers"},
		{"basic", func(d *Destination) { d.Auth = DestinationAuth{Type: AuthBasic, Username: "u", Password: "p"} }, ""},
		{"basic colon", func(d *Destination) { d.Auth = DestinationAuth{Type: AuthBasic, Username: "u:x"} }, "auth.username"},
		{"bearer empty", func(d *Destination) { d.Auth = DestinationAuth{Type: AuthBearer} }, "auth.token"},
		{"unknown auth", func(d *Destination) { d.Auth = DestinationAuth{Type: "digest"} }, "auth.type"},
		{"proxy-connection header", func(d *Destination) { d.Headers = map[string]string{"proxy-connection": "x"} }, "headers"},
		{"header twice in two cases", func(d *Destination) { d.Headers = map[string]string{"X-Team": "a", "x-team": "b"} }, "headers"},
		{"header value with a control character", func(d *Destination) { d.Headers = map[string]string{"X-A": "a\x01b"} }, "headers"},
		{"header value with a tab", func(d *Destination) { d.Headers = map[string]string{"X-A": "a\tb"} }, ""},
		{"cookie header", func(d *Destination) { d.Headers = map[string]string{"Cookie": "session=1"} }, ""},
		{"authorization without auth", func(d *Destination) { d.Headers = map[string]string{"Authorization": "Token t"} }, ""},
		{"bearer with a control character", func(d *Destination) { d.Auth = DestinationAuth{Type: AuthBearer, Token: "a\x7fb"} }, "auth.token"},
		{"listen with headers", func(d *Destination) {
			d.Kind, d.Headers = KindListen, map[string]string{"X-Team": "a"}
		}, "headers, auth, client_certificate"},
		{"listen with auth", func(d *Destination) {
			d.Kind, d.Auth = KindListen, DestinationAuth{Type: AuthBearer, Token: "t"}
		}, "headers, auth, client_certificate"},
		{"cert without key", func(d *Destination) { d.ClientCert = ClientCertificate{CertPEM: "x"} }, "client_certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base()
			tt.set(d)
			err := d.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.field != "" && (ErrorCode(err) != EINVALID || !strings.HasPrefix(ErrorMessage(err), tt.field+":")):
				t.Fatalf("Validate = %v, want invalid naming %s", err, tt.field)
			}
		})
	}
}

func TestRestrictedDataValidate(t *testing.T) {
	if err := (RestrictedData{Paths: []string{"customer.phone"}, SubjectTypes: []string{"email"}}).Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	for _, r := range []RestrictedData{{Paths: []string{"a b"}}, {SubjectTypes: []string{""}}} {
		if err := r.Validate(); ErrorCode(err) != EINVALID {
			t.Errorf("Validate(%+v) = %v, want invalid", r, err)
		}
	}
}

func TestHeaderSetBySluice(t *testing.T) {
	for name, want := range map[string]bool{"webhook-id": true, "WEBHOOK-SIGNATURE": true, "sluice-hops": true,
		"content-type": true, "host": true, "user-agent": true, "proxy-connection": true, "X-Team": false,
		"Authorization": false, "Cookie": false} {
		if got := HeaderSetBySluice(name); got != want {
			t.Errorf("HeaderSetBySluice(%q) = %v, want %v", name, got, want)
		}
	}
}
