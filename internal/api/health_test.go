package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/sqlite"
)

// /healthz needs no token and answers 200 while the store answers.
func TestHealthz(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	var body struct{ Status string }
	b.do(t, "GET", "/healthz", "", nil).want(t, http.StatusOK, &body)
	if body.Status != "ok" {
		t.Errorf("healthz status %q, want ok", body.Status)
	}
}

// /healthz answers 503 when the store does not answer.
func TestHealthzStoreDown(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "sluice.db"),
		Master: newMaster(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	api.New(api.Config{Store: store, Logger: slog.New(slog.DiscardHandler)}).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz with a closed store: %d, want 503", rec.Code)
	}
}
