package api_test

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
)

// Create, read, list, patch and delete a destination, with the documented
// defaults and a generated secret only shown at creation and by …/secret.
func TestDestinationLifecycle(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	d := b.destination(t, b.operator, map[string]any{"name": "billing-service",
		"url": "https://billing.example.com/hooks", "event_types": []string{"invoice.*", "customer.created"}})
	if !strings.HasPrefix(d.ID, sluice.PrefixDestination) || d.Name != "billing-service" ||
		d.URL != "https://billing.example.com/hooks" || !slices.Equal(d.EventTypes, []string{"invoice.*", "customer.created"}) ||
		d.SourceIDs == nil || len(d.SourceIDs) != 0 || d.Fields != nil || d.RateLimitPerSecond != nil ||
		!d.Enabled || d.State != sluice.StateActive || d.DisabledReason != "" {
		t.Errorf("created %+v", d)
	}
	key, err := signature.ParseSecret(d.Secret)
	if err != nil || len(key) < 24 {
		t.Fatalf("generated secret is not whsec_ with 24+ bytes (%v)", err)
	}

	var got destination
	b.do(t, "GET", "/v1/destinations/"+d.ID, b.operator, nil).want(t, http.StatusOK, &got)
	if got.Secret != "" {
		t.Error("GET shows the secret")
	}
	got.Secret = d.Secret
	if !equalDestinations(got, d) {
		t.Errorf("GET %+v, want %+v", got, d)
	}
	var sec struct{ Secret string }
	b.do(t, "GET", "/v1/destinations/"+d.ID+"/secret", b.operator, nil).want(t, http.StatusOK, &sec)
	if sec.Secret != d.Secret {
		t.Error("GET …/secret differs from the secret given at creation")
	}

	var patched destination
	b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{"name": "renamed",
		"event_types": []string{"*"}, "enabled": false}).want(t, http.StatusOK, &patched)
	if patched.Name != "renamed" || !slices.Equal(patched.EventTypes, []string{"*"}) || patched.URL != d.URL ||
		patched.Enabled || patched.State != sluice.StateDisabled || patched.DisabledReason != sluice.DisabledManual {
		t.Errorf("patched %+v", patched)
	}
	var enabled destination
	b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{"enabled": true}).want(t, http.StatusOK, &enabled)
	if !enabled.Enabled || enabled.State != sluice.StateActive || enabled.DisabledReason != "" || enabled.Name != "renamed" {
		t.Errorf("re-enabled %+v", enabled)
	}

	b.do(t, "DELETE", "/v1/destinations/"+d.ID, b.operator, nil).want(t, http.StatusNoContent, nil)
	b.do(t, "GET", "/v1/destinations/"+d.ID, b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "DELETE", "/v1/destinations/"+d.ID, b.operator, nil).wantError(t, http.StatusNotFound, "not_found")

	actions := b.auditActions(t, d.ID)
	want := []string{"destination.create", "destination.secret_read", "destination.update", "destination.update", "destination.delete"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit %v, want %v", actions, want)
	}
}

func equalDestinations(a, b destination) bool {
	return a.ID == b.ID && a.Name == b.Name && a.URL == b.URL && slices.Equal(a.EventTypes, b.EventTypes) &&
		slices.Equal(a.SourceIDs, b.SourceIDs) && a.Enabled == b.Enabled && a.State == b.State && a.Secret == b.Secret
}

// A secret given at creation is kept; the list pages newest first.
func TestDestinationSecretGivenAndList(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	secret := signature.NewSecret()
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	given := b.destination(t, b.operator, map[string]any{"url": "https://a.example.com", "secret": secret,
		"source_ids": []string{src.ID}})
	if given.Secret != secret || !slices.Equal(given.SourceIDs, []string{src.ID}) {
		t.Errorf("created %+v with the given secret and source", given)
	}
	var ids []string
	for range 3 {
		ids = append(ids, b.destination(t, b.operator, map[string]any{"url": "https://b.example.com"}).ID)
	}
	var page struct {
		Data       []destination
		NextCursor *string `json:"next_cursor"`
	}
	b.do(t, "GET", "/v1/destinations?limit=2", b.operator, nil).want(t, http.StatusOK, &page)
	if len(page.Data) != 2 || page.Data[0].ID != ids[2] || page.Data[1].ID != ids[1] || page.NextCursor == nil {
		t.Fatalf("first page %+v, want the two newest and a cursor", page)
	}
	if slices.ContainsFunc(page.Data, func(d destination) bool { return d.Secret != "" }) {
		t.Error("the list shows secrets")
	}
	b.do(t, "GET", "/v1/destinations?limit=2&cursor="+*page.NextCursor, b.operator, nil).want(t, http.StatusOK, &page)
	if len(page.Data) != 2 || page.Data[0].ID != ids[0] || page.Data[1].ID != given.ID || page.NextCursor != nil {
		t.Errorf("second page %+v, want the two oldest and no cursor", page)
	}
}

// Plain http is refused unless private destinations are allowed or the
// host's address is in an allowed range; https is accepted.
func TestDestinationURLRules(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true, strictURLs: true,
		allowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	tests := []struct {
		url  string
		want int
	}{
		{"https://hooks.example.com/x?y=1", http.StatusCreated},
		{"HTTPS://hooks.example.com", http.StatusCreated},
		{"http://hooks.example.com/x", http.StatusBadRequest},
		{"http://127.0.0.1:9000/x", http.StatusBadRequest},
		{"http://10.1.2.3:8080/x", http.StatusCreated},
		{"http://10.2.0.1/x", http.StatusBadRequest},
		{"https://user:pw@hooks.example.com", http.StatusBadRequest},
		{"https:///nohost", http.StatusBadRequest},
		{"mailto:ops@example.com", http.StatusBadRequest},
		{"/relative", http.StatusBadRequest},
	}
	for _, tt := range tests {
		res := b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": sluice.NewID("dst-"), "url": tt.url})
		if res.status != tt.want {
			t.Errorf("url %q: status %d, want %d (%s)", tt.url, res.status, tt.want, res.body)
		}
		if tt.want == http.StatusBadRequest {
			res.wantError(t, http.StatusBadRequest, "invalid")
		}
	}
}
