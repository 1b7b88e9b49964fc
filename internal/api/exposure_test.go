package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testcert"
)

// exposed is a destination's exposure controls and records of processing
// as the API shows them.
type exposed struct {
	ID              string            `json:"id"`
	Delivery        string            `json:"delivery"`
	FetchTTLSeconds int               `json:"fetch_ttl_seconds"`
	Pseudonymize    []string          `json:"pseudonymize"`
	PersonalData    *map[string]any   `json:"personal_data"`
	Headers         map[string]string `json:"headers"`
	Auth            *map[string]any   `json:"auth"`
	ClientCert      *struct {
		Subject     string `json:"subject"`
		Fingerprint string `json:"fingerprint_sha256"`
	} `json:"client_certificate"`
	Purpose     *string `json:"purpose"`
	LawfulBasis *string `json:"lawful_basis"`
	Owner       *string `json:"owner"`
	Region      *string `json:"region"`
}

// Every exposure control is set at creation, shown without its secrets,
// changed and cleared by PATCH.
func TestDestinationExposureFields(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	cert := testcert.Write(t, certFile, keyFile, 7)
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)

	var plain exposed
	b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "plain",
		"url": "https://plain.example.com/hooks"}).want(t, http.StatusCreated, &plain)
	if plain.Delivery != "full" || plain.FetchTTLSeconds != 900 || plain.Pseudonymize == nil || plain.PersonalData != nil ||
		plain.Headers == nil || plain.Auth != nil || plain.ClientCert != nil || plain.Purpose != nil || plain.Region != nil {
		t.Errorf("defaults %+v", plain)
	}

	var d exposed
	resp := b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "crm",
		"url": "https://crm.example.com/hooks", "delivery": "thin", "fetch_ttl_seconds": 60,
		"pseudonymize":       []string{"customer.email"},
		"personal_data":      map[string]any{"allowed": true, "purpose": "support", "lawful_basis": "contract"},
		"headers":            map[string]string{"X-Team": "billing"},
		"auth":               map[string]any{"type": "basic", "username": "hooks", "password": "pa55-private"},
		"client_certificate": map[string]any{"cert_pem": string(certPEM), "key_pem": string(keyPEM)},
		"purpose":            "customer support", "lawful_basis": "legitimate_interests", "owner": "dpo@example.com",
		"region": "eu"})
	body := string(resp.body)
	resp.want(t, http.StatusCreated, &d)
	sum := sha256.Sum256(cert.Raw)
	if d.Delivery != "thin" || d.FetchTTLSeconds != 60 || !slices.Equal(d.Pseudonymize, []string{"customer.email"}) ||
		d.PersonalData == nil || (*d.PersonalData)["lawful_basis"] != "contract" || d.Headers["X-Team"] != "billing" ||
		d.Auth == nil || (*d.Auth)["username"] != "hooks" || d.ClientCert == nil ||
		d.ClientCert.Fingerprint != hex.EncodeToString(sum[:]) || *d.Purpose != "customer support" ||
		*d.LawfulBasis != "legitimate_interests" || *d.Owner != "dpo@example.com" || *d.Region != "eu" {
		t.Errorf("created %+v", d)
	}
	for _, secret := range []string{"pa55-private", "PRIVATE KEY"} {
		if strings.Contains(body, secret) {
			t.Errorf("the created destination shows %s", secret)
		}
	}

	var patched exposed
	b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{"delivery": "full", "auth": nil,
		"client_certificate": nil, "headers": map[string]string{}, "personal_data": nil, "purpose": ""}).
		want(t, http.StatusOK, &patched)
	if patched.Delivery != "full" || patched.Auth != nil || patched.ClientCert != nil || len(patched.Headers) != 0 ||
		patched.PersonalData != nil || patched.Purpose != nil || *patched.Region != "eu" ||
		!slices.Equal(patched.Pseudonymize, []string{"customer.email"}) {
		t.Errorf("patched %+v", patched)
	}
	var bearer exposed
	b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{
		"auth": map[string]any{"type": "bearer", "token": "tok-private"}}).want(t, http.StatusOK, &bearer)
	if bearer.Auth == nil || (*bearer.Auth)["type"] != "bearer" || len(*bearer.Auth) != 1 {
		t.Errorf("bearer auth shown as %v", bearer.Auth)
	}
	b.assertLogsClean(t, "pa55-private", "tok-private")
}

// Each control refuses what it cannot honour with 400 naming the field.
func TestDestinationExposureInvalid(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	for _, tt := range []struct {
		set   map[string]any
		field string
	}{
		{map[string]any{"delivery": "fat"}, "delivery:"},
		{map[string]any{"fetch_ttl_seconds": 90000}, "fetch_ttl_seconds:"},
		{map[string]any{"pseudonymize": []string{"a b"}}, "pseudonymize[0]:"},
		{map[string]any{"personal_data": map[string]any{"allowed": true}}, "personal_data:"},
		{map[string]any{"personal_data": "yes"}, "personal_data:"},
		{map[string]any{"headers": map[string]string{"webhook-id": "x"}}, "headers:"},
		{map[string]any{"auth": map[string]any{"type": "digest"}}, "auth.type:"},
		{map[string]any{"auth": map[string]any{"type": "basic", "username": "u", "extra": 1}}, "auth:"},
		{map[string]any{"client_certificate": map[string]any{"cert_pem": "x", "key_pem": "y"}}, "client_certificate:"},
		{map[string]any{"lawful_basis": "because"}, "lawful_basis:"},
	} {
		in := map[string]any{"name": "d", "url": "https://d.example.com/hooks"}
		for k, v := range tt.set {
			in[k] = v
		}
		msg := b.do(t, "POST", "/v1/destinations", b.operator, in).wantError(t, http.StatusBadRequest, "invalid")
		if !strings.HasPrefix(msg, tt.field) {
			t.Errorf("%v: message %q, want it to start %q", tt.set, msg, tt.field)
		}
	}
}

// Sources carry records of processing; tenants a restricted data policy.
func TestProcessingAndRestrictedData(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	var src struct {
		ID          string  `json:"id"`
		Purpose     *string `json:"purpose"`
		LawfulBasis *string `json:"lawful_basis"`
	}
	b.do(t, "POST", "/v1/sources", b.operator, map[string]any{"name": "stripe",
		"verification": map[string]any{"type": "none"}, "purpose": "payments", "lawful_basis": "contract"}).
		want(t, http.StatusCreated, &src)
	if src.Purpose == nil || *src.Purpose != "payments" || *src.LawfulBasis != "contract" {
		t.Errorf("source %+v", src)
	}
	b.do(t, "PATCH", "/v1/sources/"+src.ID, b.operator, map[string]any{"lawful_basis": "maybe"}).
		wantError(t, http.StatusBadRequest, "invalid")

	var ten struct {
		ID         string `json:"id"`
		Restricted struct {
			Paths        []string `json:"paths"`
			SubjectTypes []string `json:"subject_types"`
		} `json:"restricted_data"`
	}
	var created struct{ ID, Token string }
	b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{"name": "shop"}).want(t, http.StatusCreated, &created)
	b.do(t, "GET", "/v1/tenants/"+created.ID, created.Token, nil).want(t, http.StatusOK, &ten)
	if ten.Restricted.Paths == nil || len(ten.Restricted.Paths) != 0 {
		t.Errorf("new tenant's restricted data %+v", ten.Restricted)
	}
	b.do(t, "PATCH", "/v1/tenants/"+ten.ID, b.operator, map[string]any{"restricted_data": map[string]any{
		"paths": []string{"customer.phone"}, "subject_types": []string{"email"}}}).want(t, http.StatusOK, &ten)
	if !slices.Equal(ten.Restricted.Paths, []string{"customer.phone"}) || !slices.Equal(ten.Restricted.SubjectTypes, []string{"email"}) {
		t.Errorf("restricted data %+v", ten.Restricted)
	}
	b.do(t, "PATCH", "/v1/tenants/"+ten.ID, b.operator, map[string]any{"restricted_data": map[string]any{
		"paths": []string{"a..b"}, "subject_types": []string{}}}).wantError(t, http.StatusBadRequest, "invalid")
}
