package api_test

import (
	"net/http"
	"testing"
)

// Every answer, whatever the route and status, tells browsers not to
// guess its type.
func TestNosniffOnEveryAnswer(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	for _, r := range []struct {
		method, path, token string
		body                any
		status              int
	}{
		{"GET", "/healthz", "", nil, http.StatusOK},
		{"GET", "/v1/events", b.operator, nil, http.StatusOK},
		{"GET", "/v1/events", "", nil, http.StatusUnauthorized},
		{"GET", "/v1/events/evt_nope", b.operator, nil, http.StatusNotFound},
		{"POST", "/v1/events", b.operator, "{", http.StatusBadRequest},
		{"POST", "/in/" + src.ID, "", `{"type":"a.b"}`, http.StatusAccepted},
		{"GET", "/nowhere", "", nil, http.StatusNotFound},
	} {
		res := b.do(t, r.method, r.path, r.token, r.body)
		if res.status != r.status {
			t.Fatalf("%s %s: %d, want %d", r.method, r.path, res.status, r.status)
		}
		if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q, want nosniff", r.method, r.path, res.status, got)
		}
	}
}
