package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/seal"
)

// Bench load-tests a gateway: the one at --url, or one it starts in process
// on a temporary data directory with default settings.
func Bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.Options
	fs.StringVar(&o.URL, "url", "", "base URL of a running Sluice (default: start one in process)")
	fs.StringVar(&o.Token, "token", "", "admin token of the running Sluice (default: $SLUICE_ADMIN_TOKEN)")
	fs.IntVar(&o.Events, "events", 10000, "events to publish")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "concurrent publishers")
	fs.IntVar(&o.PayloadBytes, "payload-bytes", 1024, "approximate size of each JSON payload")
	fs.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long to wait for deliveries after publishing")
	database := fs.String("database", "", "PostgreSQL `URL` for the in-process gateway: it works in a schema of its own, dropped afterwards (default: the embedded store)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Token == "" {
		o.Token = os.Getenv("SLUICE_ADMIN_TOKEN")
	}
	o.Progress = stderr
	if o.URL == "" {
		srv, token, cleanup, err := startBenchServer(ctx, *database)
		if err != nil {
			return err
		}
		defer cleanup()
		o.URL, o.Token = srv.URL(), token
		store := "embedded store, temporary data dir"
		if *database != "" {
			store = "PostgreSQL, temporary schema"
		}
		fmt.Fprintf(stdout, "in-process Sluice on %s (%s)\n", srv.Addr(), store)
	} else if o.Token == "" {
		return fmt.Errorf("--token (or SLUICE_ADMIN_TOKEN) is required with --url")
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	res.WriteTable(stdout)
	return nil
}

// startBenchServer runs Sluice in process with default settings on a
// temporary data directory, listening on loopback, private destinations
// allowed so the bench receiver can be reached. With a database URL it uses
// PostgreSQL, in a schema made for the run and dropped by cleanup.
func startBenchServer(ctx context.Context, database string) (srv *Server, token string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return nil, "", nil, err
	}
	undo := []func(){func() { os.RemoveAll(dir) }}
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	token = sluice.NewToken()
	env := map[string]string{
		"SLUICE_ADDR":                       "127.0.0.1:0",
		"SLUICE_DATA_DIR":                   dir,
		"SLUICE_ALLOW_PRIVATE_DESTINATIONS": "true",
		"SLUICE_ADMIN_TOKEN":                token,
	}
	if database != "" {
		url, drop, err := postgres.TemporarySchema(ctx, database, "sluice_bench_"+strings.ToLower(rand.Text()[:10]))
		if err != nil {
			cleanup()
			return nil, "", nil, fmt.Errorf("--database: %w", err)
		}
		undo = append(undo, drop)
		env["SLUICE_DATABASE_URL"] = url
		env["SLUICE_MASTER_KEY"] = base64.StdEncoding.EncodeToString(seal.GenerateKey())
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err == nil {
		srv, err = Start(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	}
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	undo = append(undo, func() { srv.Close() })
	return srv, token, cleanup, nil
}
