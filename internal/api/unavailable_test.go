package api_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/api"
)

// unavailableStore is a store whose CreateEvent fails with err.
type unavailableStore struct {
	sluice.Store
	err error
}

func (s unavailableStore) CreateEvent(context.Context, *sluice.NewEvent, time.Duration) (*sluice.EventCreated, error) {
	return nil, s.err
}

// A database that cannot answer is 503 with Retry-After and the store's
// message, which says what became of the event; its cause is logged,
// never shown, and the payload is neither.
func TestPublishUnavailable(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	cause := errors.New("read tcp: connection reset by peer")
	store := unavailableStore{Store: b.store, err: fmt.Errorf("%w: %w",
		sluice.Errorf(sluice.EUNAVAILABLE, "whether event evt_1 was stored is unknown; retry with the same idempotency key"), cause)}
	contract := newContractChecker(t)
	srv := httptest.NewServer(contract.wrap(api.New(api.Config{Store: store, Logger: slog.New(slog.NewTextHandler(b.logs, nil))})))
	t.Cleanup(srv.Close)
	u := &testBundle{store: b.store, srv: srv, operator: b.operator, logs: b.logs, contract: contract}

	res := u.do(t, http.MethodPost, "/v1/events", u.operator,
		map[string]any{"type": "a.b", "payload": map[string]string{"secret": "payload-value"}, "idempotency_key": "k"})
	msg := res.wantError(t, http.StatusServiceUnavailable, sluice.EUNAVAILABLE)
	if !strings.Contains(msg, "evt_1") || strings.Contains(msg, "reset") {
		t.Errorf("message %q: want the store's message without its cause", msg)
	}
	if got := res.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, "connection reset by peer") || strings.Contains(logs, "payload-value") {
		t.Errorf("log: want the cause and no payload:\n%s", logs)
	}
}
