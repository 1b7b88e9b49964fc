package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"maps"
	"time"

	"github.com/sluicehq/sluice"
)

// processingJSON is a flow's records of processing as the API shows and
// takes them, on destinations and sources: null (or "", given) for none.
type processingJSON struct {
	Purpose     *string `json:"purpose"`
	LawfulBasis *string `json:"lawful_basis"`
	Owner       *string `json:"owner"`
	Region      *string `json:"region"`
}

func toProcessingJSON(p sluice.Processing) processingJSON {
	text := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return processingJSON{Purpose: text(p.Purpose), LawfulBasis: text(p.LawfulBasis), Owner: text(p.Owner),
		Region: text(p.Region)}
}

// given reports whether a request sets any of the fields.
func (in *processingJSON) given() bool {
	return in.Purpose != nil || in.LawfulBasis != nil || in.Owner != nil || in.Region != nil
}

// apply sets on p the fields given; the owner's Validate checks them.
func (in *processingJSON) apply(p *sluice.Processing) {
	for _, f := range []struct {
		in  *string
		out *string
	}{{in.Purpose, &p.Purpose}, {in.LawfulBasis, &p.LawfulBasis}, {in.Owner, &p.Owner}, {in.Region, &p.Region}} {
		if f.in != nil {
			*f.out = *f.in
		}
	}
}

// exposureJSON is what a destination is sent beyond its allowlist, as the
// API shows it: credentials never (auth shows its type and user name, a
// client certificate what identifies it).
type exposureJSON struct {
	Delivery          string            `json:"delivery"`
	FetchTTLSeconds   int               `json:"fetch_ttl_seconds"`
	Pseudonymize      []string          `json:"pseudonymize"`
	PersonalData      *grantJSON        `json:"personal_data"`
	Headers           map[string]string `json:"headers"`
	Auth              *authJSON         `json:"auth"`
	ClientCertificate *certificateJSON  `json:"client_certificate"`
}

type grantJSON struct {
	Allowed     bool   `json:"allowed"`
	Purpose     string `json:"purpose"`
	LawfulBasis string `json:"lawful_basis"`
}

// authJSON is a destination's auth: the password and token only ever read
// from requests.
type authJSON struct {
	Type     string `json:"type"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// certificateJSON identifies a destination's client certificate.
type certificateJSON struct {
	Subject           string    `json:"subject"`
	NotAfter          time.Time `json:"not_after"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
}

func toExposureJSON(d *sluice.Destination) exposureJSON {
	out := exposureJSON{Delivery: sluice.DeliveryFull, FetchTTLSeconds: int(d.FetchLifetime() / time.Second),
		Pseudonymize: d.Pseudonymize, Headers: maps.Clone(d.Headers)}
	if d.Thin() {
		out.Delivery = sluice.DeliveryThin
	}
	if out.Pseudonymize == nil {
		out.Pseudonymize = []string{}
	}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	if g := d.PersonalData; g != (sluice.PersonalDataGrant{}) {
		out.PersonalData = &grantJSON{Allowed: g.Allowed, Purpose: g.Purpose, LawfulBasis: g.LawfulBasis}
	}
	if a := d.Auth; a.Type != "" {
		out.Auth = &authJSON{Type: a.Type, Username: a.Username}
	}
	if d.ClientCert.CertPEM != "" {
		out.ClientCertificate = describeCertificate(d.ClientCert.CertPEM)
	}
	return out
}

// describeCertificate identifies the first certificate of a PEM chain; nil
// when there is none to read (the API refuses such a pair when given).
func describeCertificate(certPEM string) *certificateJSON {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(c.Raw)
	return &certificateJSON{Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC(),
		FingerprintSHA256: hex.EncodeToString(sum[:])}
}

// exposureInput is the exposure controls in POST and PATCH
// /v1/destinations: nil or absent leaves a field as it is; null clears
// personal_data, auth and client_certificate.
type exposureInput struct {
	Delivery          *string            `json:"delivery"`
	FetchTTLSeconds   *int               `json:"fetch_ttl_seconds"`
	Pseudonymize      *[]string          `json:"pseudonymize"`
	PersonalData      json.RawMessage    `json:"personal_data"`
	Headers           *map[string]string `json:"headers"`
	Auth              json.RawMessage    `json:"auth"`
	ClientCertificate json.RawMessage    `json:"client_certificate"`
}

// given reports whether a request sets any of the fields.
func (in *exposureInput) given() bool {
	return in.Delivery != nil || in.FetchTTLSeconds != nil || in.Pseudonymize != nil || len(in.PersonalData) > 0 ||
		in.Headers != nil || len(in.Auth) > 0 || len(in.ClientCertificate) > 0
}

// apply sets on d the fields given: EINVALID for a part that does not
// decode; Destination.Validate checks the rest.
func (in *exposureInput) apply(d *sluice.Destination) error {
	if in.Delivery != nil {
		d.Delivery = *in.Delivery
	}
	if in.FetchTTLSeconds != nil {
		if n := *in.FetchTTLSeconds; n < 0 || n > int(24*time.Hour/time.Second) {
			return sluice.Errorf(sluice.EINVALID, "fetch_ttl_seconds: must be 1 to 86400")
		}
		d.FetchTTL = time.Duration(*in.FetchTTLSeconds) * time.Second
	}
	if in.Pseudonymize != nil {
		d.Pseudonymize = nil
		if len(*in.Pseudonymize) > 0 {
			d.Pseudonymize = *in.Pseudonymize
		}
	}
	if in.Headers != nil {
		d.Headers = nil
		if len(*in.Headers) > 0 {
			d.Headers = *in.Headers
		}
	}
	var grant *grantJSON
	if err := decodePart(in.PersonalData, "personal_data", `{"allowed": true, "purpose": "…", "lawful_basis": "contract"}`, &grant); err != nil {
		return err
	}
	if len(in.PersonalData) > 0 {
		d.PersonalData = sluice.PersonalDataGrant{}
		if grant != nil {
			d.PersonalData = sluice.PersonalDataGrant{Allowed: grant.Allowed, Purpose: grant.Purpose, LawfulBasis: grant.LawfulBasis}
		}
	}
	var auth *authJSON
	if err := decodePart(in.Auth, "auth", `{"type": "basic", "username": "…", "password": "…"} or {"type": "bearer", "token": "…"}`, &auth); err != nil {
		return err
	}
	if len(in.Auth) > 0 {
		d.Auth = sluice.DestinationAuth{}
		if auth != nil {
			d.Auth = sluice.DestinationAuth{Type: auth.Type, Username: auth.Username, Password: auth.Password, Token: auth.Token}
		}
	}
	var cert *struct {
		CertPEM string `json:"cert_pem"`
		KeyPEM  string `json:"key_pem"`
	}
	if err := decodePart(in.ClientCertificate, "client_certificate", `{"cert_pem": "-----BEGIN CERTIFICATE-----…", "key_pem": "-----BEGIN PRIVATE KEY-----…"}`, &cert); err != nil {
		return err
	}
	if len(in.ClientCertificate) > 0 {
		d.ClientCert = sluice.ClientCertificate{}
		if cert != nil {
			if _, err := tls.X509KeyPair([]byte(cert.CertPEM), []byte(cert.KeyPEM)); err != nil {
				return sluice.Errorf(sluice.EINVALID, "client_certificate: cert_pem and key_pem must be a matching PEM certificate and private key")
			}
			d.ClientCert = sluice.ClientCertificate{CertPEM: cert.CertPEM, KeyPEM: cert.KeyPEM}
		}
	}
	return nil
}

// decodePart decodes a part of a request given as raw JSON into v, unknown
// members refused: EINVALID naming the field and its shape.
func decodePart(raw json.RawMessage, field, shape string, v any) error {
	if len(raw) == 0 {
		return nil
	}
	if err := decodeJSONFrom(bytes.NewReader(raw), v); err != nil {
		return sluice.Errorf(sluice.EINVALID, "%s: must be null or %s", field, shape)
	}
	return nil
}

// restrictedJSON is a tenant's restricted data as the API shows and takes
// it.
type restrictedJSON struct {
	Paths        []string `json:"paths"`
	SubjectTypes []string `json:"subject_types"`
}

func toRestrictedJSON(r sluice.RestrictedData) restrictedJSON {
	out := restrictedJSON{Paths: r.Paths, SubjectTypes: r.SubjectTypes}
	if out.Paths == nil {
		out.Paths = []string{}
	}
	if out.SubjectTypes == nil {
		out.SubjectTypes = []string{}
	}
	return out
}
