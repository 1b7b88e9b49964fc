package inbound_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

func TestDefaultPaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ typ, typePath, idPath string }{
		{sluice.VerifyStripe, "type", "id"},
		{sluice.VerifyGitHub, "header:X-GitHub-Event", "header:X-GitHub-Delivery"},
		{sluice.VerifyShopify, "header:X-Shopify-Topic", "header:X-Shopify-Webhook-Id"},
		{sluice.VerifyStandardWebhooks, "type", "header:webhook-id"},
		{sluice.VerifyHMAC, "type", "id"},
		{sluice.VerifyBasic, "type", "id"},
		{sluice.VerifyToken, "type", "id"},
		{sluice.VerifyNone, "type", "id"},
		{"", "type", "id"},
	} {
		typePath, idPath := inbound.DefaultPaths(tc.typ)
		if typePath != tc.typePath || idPath != tc.idPath {
			t.Errorf("DefaultPaths(%q) = %q, %q; want %q, %q", tc.typ, typePath, idPath, tc.typePath, tc.idPath)
		}
		for _, p := range []string{typePath, idPath} {
			if err := inbound.CheckPath(p); err != nil {
				t.Errorf("CheckPath(default %q) = %v", p, err)
			}
		}
	}
}

func TestCheckPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"type", true},
		{"data.object.customer_email", true},
		{"items.0.sku", true},
		{"données.clé", true},
		{"header:X-GitHub-Event", true},
		{"header:webhook-id", true},
		{"form:email", true},
		{"form:customer[email]", true},
		{"form:a.b..c", true},
		{"form:名前", true},
		{"form:", false},
		{"form:bad\xffutf8", false},
		{strings.Repeat("a.", 31) + "a", true},
		{strings.Repeat("a", 512), true},
		{"", false},
		{".type", false},
		{"type.", false},
		{"data..id", false},
		{"header:", false},
		{"header:X GitHub", false},
		{"header:X-Event:", false},
		{"header:Ünicode", false},
		{strings.Repeat("a.", 32) + "a", false},
		{strings.Repeat("a", 513), false},
		{"bad\xffutf8", false},
	} {
		err := inbound.CheckPath(tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPath(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}
