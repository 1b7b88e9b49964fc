package schema

import (
	"strings"
	"testing"
)

func TestIdentifier(t *testing.T) {
	for _, key := range []string{
		"id", "type", "data", "created_at", "createdAt", "CreatedAt", "x-request-id", "_links", "__typename",
		"$ref", "$schema", "@type", "@context", "@id", "line1", "address2", "last4", "sha256", "x509",
		"MediaContentType0", "x509CertificateChain", "oauth2_token", "api_app_id", "v2", "ID", "URL",
		"getHTTPResponse", "payment_method_configuration_details", "decade", "deadbeef", "i",
		strings.Repeat("a", MaxKeyLen),
	} {
		if !identifier(key) || !identifier([]byte(key)) {
			t.Errorf("identifier(%q) = false, want true", key)
		}
		if !referenceIdentifier(key) {
			t.Errorf("the reference rule refuses %q", key)
		}
	}
	for _, c := range []struct{ key, why string }{
		{"", "empty"},
		{strings.Repeat("a", MaxKeyLen+1), "too long"},
		{"ada@example.com", "an email address"},
		{"Ada.Lovelace", "a dot"},
		{"+442079460000", "a phone number"},
		{"020 7946 0000", "a phone number with spaces"},
		{"442079460000", "digits"},
		{"0", "a number"},
		{"42", "a number"},
		{"2026-01-02", "a date"},
		{"user_12345", "more than 3 digits"},
		{"iso8601", "more than 3 digits"},
		{"123e4567-e89b-12d3-a456-426614174000", "a UUID"},
		{"e89b12d3-a456-4266-1417-4000123e4567", "a UUID starting with a letter"},
		{"E89B12D3", "a hex id"},
		{"ab12cdef", "a hex id"},
		{"cus_NffrFeUfNV2Hib", "a random token"},
		{"NffrFeUfNV2HibQ", "a random token"},
		{"Ada Lovelace", "a space"},
		{"José", "not ASCII"},
		{"Łukasz", "not ASCII"},
		{"山田", "not ASCII"},
		{"https://example.com/a", "a URL"},
		{"urn:x", "a colon"},
		{"@odata.type", "a dot"},
		{"$", "a sigil alone"},
		{"$$ref", "two sigils"},
		{"@1", "a digit after the sigil"},
		{"-x", "a separator first"},
		{"a\x00b", "a control byte"},
		{"a\xffb", "invalid UTF-8"},
		{"*", "the placeholder"},
		{"a[]", "brackets"},
	} {
		if identifier(c.key) || identifier([]byte(c.key)) {
			t.Errorf("identifier(%q) = true, want false: %s", c.key, c.why)
		}
		if referenceIdentifier(c.key) {
			t.Errorf("the reference rule accepts %q: %s", c.key, c.why)
		}
	}
}

func FuzzIdentifier(f *testing.F) {
	for _, s := range []string{"id", "$ref", "ada@example.com", "cus_NffrFeUfNV2Hib", "e89b12d3", "line1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if got, want := identifier(key), referenceIdentifier(key); got != want {
			t.Fatalf("identifier(%q) = %v, the documented rule says %v", key, got, want)
		}
		if identifier(key) != identifier([]byte(key)) {
			t.Fatalf("identifier(%q) differs for bytes", key)
		}
	})
}
