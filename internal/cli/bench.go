package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
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

// Bench load-tests a gateway, the one at --url or one it starts in process
// on a temporary data directory with default settings, after the same load
// against a bare net/http handler for a baseline and against a forwarder
// that keeps nothing for the ceiling (unless --forwarder=false), and with
// --subjects once more with an email address in every payload. It prints a table, or one
// JSON object with --json, on stdout and progress on stderr. It fails when
// the options are wrong, the run cannot be set up, or accepted events were
// not delivered in time (after printing what it measured).
func Bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseBenchFlags(args, stdout)
	if err != nil {
		return err
	}
	o := f.options
	o.Progress = stderr
	for _, p := range []struct {
		path string
		to   *io.Writer
	}{{f.cpuProfile, &o.CPUProfile}, {f.subjectsCPUProfile, &o.SubjectsCPUProfile}} {
		if p.path == "" {
			continue
		}
		pf, err := os.Create(p.path)
		if err != nil {
			return err
		}
		defer pf.Close()
		*p.to = pf
	}
	if o.URL == "" {
		srv, token, cleanup, err := startBenchServer(ctx, f.database, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		o.URL, o.Token, o.InProcess = srv.URL(), token, true
		o.Gateway = "in process, embedded store in a temporary data dir"
		if f.database != "" {
			o.Gateway = "in process, PostgreSQL in a temporary schema"
		}
		fmt.Fprintf(stderr, "gateway on %s: %s\n", srv.Addr(), o.Gateway)
	}
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		// A run that timed out waiting for deliveries still shows what it
		// measured, the missing deliveries among it.
		if werr := writeBenchReport(stdout, rep, f.json); werr != nil {
			return werr
		}
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// benchFlags are the parsed flags of `sluice bench`.
type benchFlags struct {
	options    bench.Options
	database   string // PostgreSQL URL for the in-process gateway
	json       bool
	cpuProfile string // file for a CPU profile of the Sluice phase
	// subjectsCPUProfile is the file for a CPU profile of the subjects
	// phase.
	subjectsCPUProfile string
}

var benchCommand = command{
	name: "bench",
	args: "[flags]",
	about: `Load-tests a gateway: the one at --url, or one it starts in process on a
temporary data directory with default settings. It first runs the same load
against a bare net/http handler on loopback, the baseline, then against a
forwarder in this process that keeps nothing (it answers at once and
delivers from a pool of workers: no store, auth, signing or retries, and for
ingest no signature check), the ceiling of any gateway on net/http. Sluice's
figures are printed as ratios of both. It prints events/s accepted and
delivered, ack and end-to-end latency percentiles, errors by class, peak RSS
and CPU time per event: a table on stdout (or one JSON object with --json),
progress on stderr. It fails when accepted events are not delivered in time.`,
	examples: `
sluice bench                                     # e2e: publish and wait for every delivery, 64 senders
sluice bench --scenario ingest --events 2000     # Stripe-signed POST /in/{source_id}
sluice bench --rate 1000 --events 10000          # open loop at 1,000 events/s
sluice bench --url http://host:8080 --token sk_…  # a running gateway
sluice bench --json > bench.json`,
}

// parseBenchFlags parses and checks the flags, before any gateway starts;
// -h prints the usage to stdout.
func parseBenchFlags(args []string, stdout io.Writer) (*benchFlags, error) {
	c := &benchCommand
	fs := c.flagSet()
	var (
		f        benchFlags
		o        = &f.options
		scenario string
	)
	fs.StringVar(&o.URL, "url", "", "base URL of a running Sluice (default: start one in process)")
	fs.StringVar(&o.Token, "token", "", "admin token of the running Sluice (SLUICE_ADMIN_TOKEN)")
	fs.StringVar(&scenario, "scenario", string(bench.ScenarioE2E), "publish (POST /v1/events, deliveries not awaited), ingest (Stripe-signed POST /in/{source_id}, deliveries awaited) or e2e (POST /v1/events, deliveries awaited)")
	fs.IntVar(&o.Events, "events", 10000, "events to send")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "closed loop: concurrent senders, each sending when its last event is answered")
	fs.Float64Var(&o.Rate, "rate", 0, "open loop: events a second, started on a fixed schedule whatever the answers (instead of --concurrency)")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", 4096, "open loop: at most this many requests in flight")
	fs.IntVar(&o.PayloadBytes, "payload-bytes", 1024, "size of each JSON payload")
	fs.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long to wait for deliveries after sending")
	baseline := fs.Bool("baseline", true, "first run the same load against a bare net/http handler on loopback, the baseline Sluice's figures are compared with")
	forwarder := fs.Bool("forwarder", true, "then run the same load against a forwarder that keeps nothing, the ceiling Sluice's figures are compared with (Sluice / forwarder)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of this process, taken while the load goes to Sluice, to `file`")
	fs.BoolVar(&o.Subjects, "subjects", false, "then send the same load to Sluice again with an email address in every payload, and compare the two")
	fs.IntVar(&o.SubjectPool, "subject-pool", 0, "with --subjects: draw the addresses from this many customers; 0: every event a new data subject")
	fs.StringVar(&f.subjectsCPUProfile, "subjects-cpuprofile", "", "write a pprof CPU profile of this process, taken while the load with subjects goes to Sluice, to `file` (with --subjects)")
	fs.StringVar(&f.database, "database", "", "PostgreSQL `URL` for the in-process gateway: it works in a schema of its own, dropped afterwards (default: the embedded store)")
	rest, err := c.parse(fs, args, stdout)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, c.usageErrorf("unexpected argument %q", rest[0])
	}
	o.Scenario, o.SkipBaseline, o.SkipForwarder = bench.Scenario(scenario), !*baseline, !*forwarder
	if o.Token == "" {
		o.Token = os.Getenv("SLUICE_ADMIN_TOKEN")
	}
	switch {
	case o.URL != "" && f.database != "":
		return nil, c.usageErrorf("--database is for the in-process gateway; it cannot be used with --url")
	case o.URL != "" && o.Token == "":
		return nil, c.usageErrorf("--token (or SLUICE_ADMIN_TOKEN) is required with --url")
	case f.subjectsCPUProfile != "" && !o.Subjects:
		return nil, c.usageErrorf("--subjects-cpuprofile profiles the phase --subjects adds: give --subjects too")
	case f.subjectsCPUProfile != "" && f.subjectsCPUProfile == f.cpuProfile:
		return nil, c.usageErrorf("--cpuprofile and --subjects-cpuprofile must name different files")
	}
	if err := loadShape(fs, o); err != nil {
		return nil, c.usageError(err)
	}
	if err := o.CheckLoad(); err != nil {
		return nil, c.usageError(err)
	}
	return &f, nil
}

// loadShape checks that --concurrency and --rate were not both given and
// makes --rate replace the default concurrency.
func loadShape(fs *flag.FlagSet, o *bench.Options) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case given["rate"] && given["concurrency"]:
		return errors.New("--concurrency (closed loop) and --rate (open loop) exclude each other")
	case given["max-in-flight"] && !given["rate"]:
		return errors.New("--max-in-flight bounds an open loop: give --rate too")
	case given["rate"] && !(o.Rate > 0):
		return errors.New("--rate must be a positive number of events a second")
	}
	if given["rate"] {
		o.Concurrency = 0
	}
	return nil
}

// writeBenchReport prints the report as a table or as JSON.
func writeBenchReport(w io.Writer, rep *bench.Report, asJSON bool) error {
	if asJSON {
		return rep.WriteJSON(w)
	}
	rep.WriteTable(w)
	return nil
}

// startBenchServer runs Sluice in process with default settings on a
// temporary data directory, listening on loopback, private destinations
// allowed so the bench receiver can be reached. With a database URL it uses
// PostgreSQL, in a schema made for the run and dropped by cleanup. Its
// warnings and errors are written to logs.
func startBenchServer(ctx context.Context, database string, logs io.Writer) (srv *Server, token string, cleanup func(), err error) {
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
		// Only warnings and errors, such as a slow store commit, join the
		// progress on stderr: an event's own lines would slow the run.
		logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		srv, err = Start(ctx, cfg, logger, io.Discard)
	}
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	undo = append(undo, func() { srv.Close() })
	return srv, token, cleanup, nil
}
