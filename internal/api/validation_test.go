package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// Requests that were accepted silently, or refused with a misleading
// message, are refused with one that names what is wrong.
func TestMisleadingInputRefused(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, says         string
	}{
		{"cursor that is not one", "GET", "/v1/events?cursor=zzz", nil, 400, sluice.EINVALID, "cursor"},
		{"export of an unknown subject type", "GET", "/v1/subjects/export?type=bogus&value=x", nil, 400, sluice.EINVALID, "type"},
		{"recover since that is not a time", "POST", "/v1/destinations/" + b.destination(t, b.operator,
			map[string]any{"name": "r", "url": "https://example.com/h"}).ID + "/recover",
			map[string]any{"since": "yesterday"}, 400, sluice.EINVALID, "since"},
		{"subject_paths item not an object", "POST", "/v1/sources",
			map[string]any{"verification": map[string]any{"type": "none"}, "subject_paths": []any{"data.email"}},
			400, sluice.EINVALID, "subject_paths[0]"},
		{"subject without a value", "POST", "/v1/events", map[string]any{"type": "a.b", "payload": map[string]any{},
			"subjects": []any{map[string]any{"type": "email", "value": "a@example.com"}, map[string]any{"type": "email"}}},
			400, sluice.EINVALID, "subjects[1]"},
		{"source_ids naming no source", "POST", "/v1/destinations",
			map[string]any{"name": "s", "url": "https://example.com/h", "source_ids": []string{"src_nope"}},
			400, sluice.EINVALID, "source_ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := b.do(t, tc.method, tc.path, b.operator, tc.body).wantError(t, tc.status, tc.code)
			if !strings.Contains(msg, tc.says) {
				t.Errorf("message %q does not name %q", msg, tc.says)
			}
		})
	}
	_ = http.StatusBadRequest
}

// A destination needs a name no other of its tenant's has, whatever the
// case; another tenant may use it.
func TestDestinationNameRequiredAndUnique(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	url := "https://example.com/h"
	b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"url": url}).
		wantError(t, http.StatusBadRequest, sluice.EINVALID)
	b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": " ", "url": url}).
		wantError(t, http.StatusBadRequest, sluice.EINVALID)
	first := b.destination(t, b.operator, map[string]any{"name": "Billing", "url": url})
	b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "billing", "url": url}).
		wantError(t, http.StatusConflict, sluice.ECONFLICT)
	other := b.destination(t, b.operator, map[string]any{"name": "crm", "url": url})
	b.do(t, "PATCH", "/v1/destinations/"+other.ID, b.operator, map[string]any{"name": "BILLING"}).
		wantError(t, http.StatusConflict, sluice.ECONFLICT)
	b.do(t, "PATCH", "/v1/destinations/"+first.ID, b.operator, map[string]any{"name": "billing"}).
		want(t, http.StatusOK, nil) // its own name, in other letters
	b.destination(t, b.tenant(t, "acme"), map[string]any{"name": "billing", "url": url})
}
