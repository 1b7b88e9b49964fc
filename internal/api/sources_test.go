package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// hexHMAC is the hex HMAC-SHA256 of body under secret, as GitHub signs.
func hexHMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Create, read, list, patch and delete a source; a PATCH that keeps the
// verification type need not repeat the secret, and one that changes it
// moves default paths along.
func TestSourceLifecycle(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	src := b.source(t, b.operator, map[string]any{"name": "hooks",
		"verification":  map[string]string{"type": "hmac", "secret": "s3cret", "header": "X-Signature", "prefix": "sha256="},
		"subject_paths": []map[string]string{{"path": "user.email", "type": "email"}}, "event_type_path": "kind"})
	if src.Verification.Algorithm != "sha256" || src.Verification.Encoding != "hex" || src.EventTypePath != "kind" ||
		src.EventIDPath != "id" {
		t.Errorf("created %+v, want hmac defaults sha256/hex and the paths given", src)
	}
	var got source
	b.do(t, "GET", "/v1/sources/"+src.ID, b.operator, nil).want(t, http.StatusOK, &got)
	if got.ID != src.ID || got.Verification.Secret != "" || got.IngestURL != src.IngestURL {
		t.Errorf("GET %+v", got)
	}

	body := []byte(`{"kind":"order.paid","id":"o1"}`)
	sign := func() http.Header { return http.Header{"X-Signature": {"sha256=" + hexHMAC("s3cret", body)}} }
	b.ingest(t, src.ID, body, sign()).want(t, http.StatusAccepted, nil)

	// Same type, no secret: the secret stays and the new header applies.
	b.do(t, "PATCH", "/v1/sources/"+src.ID, b.operator, map[string]any{"name": "renamed",
		"verification": map[string]string{"type": "hmac", "header": "X-Sig2"}}).want(t, http.StatusOK, &got)
	if got.Name != "renamed" || got.Verification.Header != "X-Sig2" {
		t.Errorf("patched %+v", got)
	}
	b.ingest(t, src.ID, []byte(`{"id":"o2"}`), http.Header{"X-Sig2": {hexHMAC("s3cret", []byte(`{"id":"o2"}`))}}).
		want(t, http.StatusAccepted, nil)

	// Another type: the id path was the default and follows it; the type
	// path was set and stays.
	b.do(t, "PATCH", "/v1/sources/"+src.ID, b.operator, map[string]any{
		"verification": map[string]string{"type": "github", "secret": "gh"}}).want(t, http.StatusOK, &got)
	if got.EventIDPath != "header:X-GitHub-Delivery" || got.EventTypePath != "kind" {
		t.Errorf("after a type change paths %q, %q", got.EventTypePath, got.EventIDPath)
	}

	var list struct{ Data []source }
	b.do(t, "GET", "/v1/sources", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 1 || list.Data[0].ID != src.ID {
		t.Errorf("list %+v", list.Data)
	}
	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.do(t, "GET", "/v1/sources/"+src.ID, viewer, nil).want(t, http.StatusOK, nil)
	b.do(t, "POST", "/v1/sources", viewer, map[string]any{"verification": map[string]string{"type": "none"}}).
		wantError(t, http.StatusForbidden, "forbidden")

	b.do(t, "DELETE", "/v1/sources/"+src.ID, b.operator, nil).want(t, http.StatusNoContent, nil)
	b.do(t, "GET", "/v1/sources/"+src.ID, b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	b.ingest(t, src.ID, body, sign()).wantError(t, http.StatusNotFound, "not_found")
	if n := b.eventCount(t); n != 2 {
		t.Errorf("%d events after deleting the source, want its 2 kept", n)
	}
	want := []string{"source.create", "source.update", "source.update", "source.delete"}
	if got := b.auditActions(t, src.ID); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
	b.assertLogsClean(t, "s3cret")
}

// Bad source configuration is 400 naming the field, repeats no secret, and
// stores nothing.
func TestSourceBadInput(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	tests := []map[string]any{
		{},
		{"verification": "stripe"},
		{"verification": map[string]string{"type": "carrier-pigeon"}},
		{"verification": map[string]string{"type": "stripe"}},
		{"verification": map[string]string{"type": "standard-webhooks", "secret": "not-whsec-TOPSECRET"}},
		{"verification": map[string]string{"type": "hmac", "secret": "TOPSECRET", "algorithm": "md5", "header": "X-S"}},
		{"verification": map[string]string{"type": "basic", "username": "u"}},
		{"verification": map[string]string{"type": "none"}, "event_type_path": "a..b"},
		{"verification": map[string]string{"type": "none"}, "event_id_path": "header:bad header"},
		{"verification": map[string]string{"type": "none"}, "subject_paths": []map[string]string{{"path": "a", "type": ""}}},
		{"verification": map[string]string{"type": "none"}, "allowed_ips": []string{"10.0.0.0/33"}},
		{"verification": map[string]string{"type": "none"}, "allowed_ips": "10.0.0.0/8"},
		{"verification": map[string]string{"type": "none"}, "rate_limit_per_second": -1},
		{"verification": map[string]string{"type": "none"}, "payload_retention": "forever"},
		{"verification": map[string]string{"type": "none"}, "payload_retention": "-1h"},
		{"verification": map[string]string{"type": "none"}, "unknown": true},
	}
	for _, body := range tests {
		msg := b.do(t, "POST", "/v1/sources", b.operator, body).wantError(t, http.StatusBadRequest, "invalid")
		if strings.HasPrefix(msg, "invalid") {
			t.Errorf("%v: message %q repeats the code", body, msg)
		}
		if strings.Contains(msg, "TOPSECRET") {
			t.Errorf("%v: message %q repeats the secret", body, msg)
		}
	}
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	b.do(t, "PATCH", "/v1/sources/"+src.ID, b.operator, map[string]any{"name": "x", "rate_limit_per_second": -5}).
		wantError(t, http.StatusBadRequest, "invalid")
	var list struct{ Data []source }
	b.do(t, "GET", "/v1/sources", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 1 || list.Data[0].Name != "" {
		t.Errorf("sources after bad input: %+v, want the one good source unchanged", list.Data)
	}
}

// Tenant B cannot read, change or delete tenant A's source.
func TestSourceIsolation(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	other := b.tenant(t, "b")
	b.do(t, "GET", "/v1/sources/"+src.ID, other, nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "PATCH", "/v1/sources/"+src.ID, other, map[string]any{"enabled": false}).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "DELETE", "/v1/sources/"+src.ID, other, nil).wantError(t, http.StatusNotFound, "not_found")
	var list struct{ Data []source }
	b.do(t, "GET", "/v1/sources", other, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 0 {
		t.Errorf("tenant B lists %d of A's sources", len(list.Data))
	}
	b.ingest(t, src.ID, []byte(`{}`), nil).want(t, http.StatusAccepted, nil)
}
