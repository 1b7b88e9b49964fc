package cli

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/testlog"
)

// testToken is the operator token of in-process test servers.
const testToken = "sk_test_operator_token_for_in_process_servers_0"

// startTestServer runs Sluice in process on loopback with a temporary data
// directory, extra settings from env, and the given connection timeouts. It
// returns the server and the log it writes.
func startTestServer(t *testing.T, env map[string]string, timeouts serverTimeouts) (*Server, *testlog.Buffer) {
	t.Helper()
	all := map[string]string{
		"SLUICE_ADDR":        "127.0.0.1:0",
		"SLUICE_DATA_DIR":    t.TempDir(),
		"SLUICE_ADMIN_TOKEN": testToken,
	}
	maps.Copy(all, env)
	cfg, err := config.Load(nil, func(k string) string { return all[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := &testlog.Buffer{}
	srv, err := startWithTimeouts(context.Background(), cfg, slog.New(slog.NewTextHandler(log, nil)), &bytes.Buffer{}, timeouts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv, log
}
