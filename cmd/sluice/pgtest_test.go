package main_test

// Helpers for the tests that run several sluice processes against the
// PostgreSQL named by SLUICE_TEST_DATABASE_URL: a schema per test, the
// settings the processes share, a way to start processes without waiting
// for each, and a round-robin publisher.

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create and drop test schemas

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testlog"
)

// pgCluster is one test's share of the test database: a fresh schema and
// the settings every sluice process on it must share.
type pgCluster struct {
	db     *sql.DB
	base   *url.URL // SLUICE_TEST_DATABASE_URL
	schema string
	token  string
	env    []string
}

// newPGCluster skips the test without SLUICE_TEST_DATABASE_URL; otherwise
// it creates a schema that is dropped when the test ends. The processes
// reach it through search_path in the connection URL, which pgx passes on
// as a run-time parameter: `sluice serve` takes only a URL.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	raw := os.Getenv("SLUICE_TEST_DATABASE_URL")
	if raw == "" {
		t.Skip("SLUICE_TEST_DATABASE_URL is not set; these tests need PostgreSQL")
	}
	return newPGClusterAt(t, raw)
}

// newPGClusterAt is newPGCluster on the database at raw.
func newPGClusterAt(t *testing.T, raw string) *pgCluster {
	t.Helper()
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		t.Fatalf("SLUICE_TEST_DATABASE_URL must be a postgres:// URL")
	}
	db, err := sql.Open("pgx", raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &pgCluster{db: db, base: base, schema: "so_" + randomHex(8), token: sluice.NewToken()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+c.schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered after db.Close, so it runs first; and before any process
	// starts, so it runs after every process was killed and let go of its
	// locks.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+c.schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", c.schema, err)
		}
	})
	c.env = []string{
		"SLUICE_MASTER_KEY=" + newMasterKey(),
		"SLUICE_ADMIN_TOKEN=" + c.token,
		"SLUICE_LOG_LEVEL=debug",
		"SLUICE_RETRY_SCHEDULE=0s,200ms,500ms,1s",
		"SLUICE_DELIVERY_LEASE=5s",
		"SLUICE_DELIVERY_TIMEOUT=2s",
	}
	return c
}

// databaseURL is the URL of the test database with the cluster's schema as
// search_path and, unless hostPort is empty, another host and port (a
// proxy).
func (c *pgCluster) databaseURL(hostPort string) string {
	u := *c.base
	if hostPort != "" {
		u.Host = hostPort
	}
	q := u.Query()
	q.Set("search_path", c.schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// start runs `sluice serve --database` on the cluster's schema, reaching
// PostgreSQL at hostPort ("" for the test database's own), and waits until
// it listens.
func (c *pgCluster) start(t *testing.T, hostPort string) *proc {
	t.Helper()
	return c.startWith(t, hostPort)
}

// startWith is start with more environment.
func (c *pgCluster) startWith(t *testing.T, hostPort string, env ...string) *proc {
	t.Helper()
	return startSluiceArgs(t, t.TempDir(), []string{"--database", c.databaseURL(hostPort)}, append(slices.Clone(c.env), env...)...)
}

// readRelationFiles writes every dirty page out (CHECKPOINT) and reads the
// files of the schema's tables, TOAST tables and indexes from the server's
// data directory, by relation name. The test is skipped where the server's
// files cannot be read (a server on another machine or user).
func (c *pgCluster) readRelationFiles(t *testing.T) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	if _, err := c.db.ExecContext(ctx, `CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	rows, err := c.db.QueryContext(ctx, `SELECT c.relname, current_setting('data_directory') || '/' || pg_relation_filepath(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 't') AND pg_relation_filepath(c.oid) IS NOT NULL
		UNION ALL
		SELECT c.relname || ' (TOAST)', current_setting('data_directory') || '/' || pg_relation_filepath(c.reltoastrelid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.reltoastrelid <> 0`, c.schema)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	files := map[string][]byte{}
	for rows.Next() {
		var name, path string
		if err := rows.Scan(&name, &path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // dropped or rewritten since the query
		case err != nil:
			t.Skipf("the database's files are not readable here: %v", err)
		}
		files[name] = data
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return files
}

// tablesInSchema counts the sluice tables in the cluster's schema: proof
// that the migrations followed search_path.
func (c *pgCluster) tablesInSchema(t *testing.T) map[string]bool {
	t.Helper()
	rows, err := c.db.QueryContext(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, c.schema)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables[name] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// requireMigratedSchema fails the test unless the store's tables and
// goose's version table are in the cluster's schema.
func (c *pgCluster) requireMigratedSchema(t *testing.T) {
	t.Helper()
	tables := c.tablesInSchema(t)
	for _, want := range []string{"goose_db_version", "settings", "tenants", "api_keys", "destinations", "events", "deliveries", "attempts"} {
		if !tables[want] {
			t.Fatalf("table %s is not in schema %s (found %v): the migrations did not follow search_path", want, c.schema, tables)
		}
	}
}

// createDestination creates a destination for rcv through p and gives rcv
// its signing secret.
func (c *pgCluster) createDestination(t *testing.T, p *proc, rcv *receiver) {
	t.Helper()
	c.createDestinationAt(t, p, rcv, rcv.srv.URL)
}

// createDestinationAt is createDestination with the destination at base, a
// front that passes requests on to rcv.
func (c *pgCluster) createDestinationAt(t *testing.T, p *proc, rcv *receiver, base string) {
	t.Helper()
	var dest struct{ Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", c.token, map[string]any{
		"name": "scale", "url": base + "/hook"}, &dest); code != http.StatusCreated || dest.Secret == "" {
		t.Fatalf("create destination: %d", code)
	}
	rcv.setSecret(dest.Secret)
}

// spawnSluice starts `sluice serve` like startSluiceArgs but does not wait
// for it to listen, so that several can start at once; awaitListening
// waits.
func spawnSluice(t *testing.T, dataDir string, args []string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), "SLUICE_ALLOW_PRIVATE_DESTINATIONS=true", "SLUICE_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{cmd: cmd, stdout: &testlog.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout = p.stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sluice: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// awaitListening waits until a spawned process logs its address, and fails
// the test if it exits first.
func awaitListening(t *testing.T, p *proc, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := listenRE.FindStringSubmatch(p.log()); m != nil {
			p.addr, p.url = m[1], "http://"+m[1]
			return
		}
		select {
		case err := <-p.done:
			t.Fatalf("sluice exited before listening: %v\n%s", err, p.log())
		case <-deadline.C:
			t.Fatalf("sluice did not start listening within %s\n%s", timeout, p.log())
		case <-tick.C:
		}
	}
}

// countSucceeded counts the deliveries p logged as succeeded (debug).
func countSucceeded(p *proc) int {
	return strings.Count(p.log(), `msg="delivery succeeded"`)
}

// errorLines returns the lines p logged at level ERROR.
func errorLines(p *proc) []string {
	var lines []string
	for line := range strings.Lines(p.log()) {
		if strings.Contains(line, "level=ERROR") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

// requireNoErrors fails the test for every ERROR line a process logged
// where nothing was meant to go wrong.
func requireNoErrors(t *testing.T, procs []*proc) {
	t.Helper()
	for i, p := range procs {
		for _, line := range errorLines(p) {
			t.Errorf("process %d logged an error: %s", i+1, line)
		}
	}
}

// publishRoundRobin publishes n events from workers goroutines, the i-th to
// target(i); a nil target skips the event. It returns the ids of the events
// acknowledged with 202 and how many publishes were not.
func publishRoundRobin(token string, n, workers int, target func(i int) *proc) (acked []string, failed int) {
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				p := target(i)
				if p == nil {
					continue
				}
				var res struct{ ID string }
				code := callQuiet(p.url+"/v1/events", token, map[string]any{
					"type": "scale.test", "payload": map[string]any{"i": i}}, &res)
				mu.Lock()
				if code == http.StatusAccepted && res.ID != "" {
					acked = append(acked, res.ID)
				} else {
					failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return acked, failed
}

// duplicates returns how many of ids rcv got more than once, and the most
// times any one arrived.
func (r *receiver) duplicates(ids []string) (dups, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		n := r.got[id]
		if n > 1 {
			dups++
		}
		most = max(most, n)
	}
	return dups, most
}

// distinct is how many different webhook-ids rcv got.
func (r *receiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}
