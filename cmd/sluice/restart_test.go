package main_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// privateCluster is a PostgreSQL cluster of the test's own, made with
// Debian's postgresql-common tools, so the test can restart it without
// disturbing the shared test database other packages are using.
type privateCluster struct {
	version, name string
	port          int
}

// newPrivateCluster creates and starts a cluster with trust authentication
// on a free loopback port, dropped when the test ends. It skips the test
// where the tools are missing or it cannot run them (they need root).
func newPrivateCluster(t *testing.T) *privateCluster {
	t.Helper()
	if os.Getenv("SLUICE_TEST_DATABASE_URL") == "" {
		t.Skip("SLUICE_TEST_DATABASE_URL is not set; these tests need PostgreSQL")
	}
	if _, err := exec.LookPath("pg_createcluster"); err != nil || os.Geteuid() != 0 {
		t.Skip("a real PostgreSQL restart needs Debian's pg_createcluster, run as root")
	}
	versions, _ := filepath.Glob("/etc/postgresql/*")
	if len(versions) == 0 {
		t.Skip("no PostgreSQL installed under /etc/postgresql")
	}
	slices.Sort(versions)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c := &privateCluster{version: filepath.Base(versions[len(versions)-1]), name: "sluicert" + randomHex(4), port: port}
	c.run(t, "pg_createcluster", c.version, c.name, "--port", strconv.Itoa(port), "--start", "--", "--auth=trust")
	t.Cleanup(func() {
		if out, err := exec.Command("pg_dropcluster", c.version, c.name, "--stop").CombinedOutput(); err != nil {
			t.Errorf("drop cluster %s: %v\n%s", c.name, err, out)
		}
	})
	return c
}

func (c *privateCluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (c *privateCluster) url() string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(c.port) + "/postgres?sslmode=disable"
}

// A real PostgreSQL restart while Sluice runs: /healthz answers 503 while
// the database is down, Sluice recovers by itself when it is back, and
// every event it acknowledged, before or after, is delivered.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	pg := newPrivateCluster(t)
	c := newPGClusterAt(t, pg.url())
	p := c.start(t, "")
	rcv := newReceiver(t)
	c.createDestination(t, p, rcv)
	target := func(int) *proc { return p }

	before, failed := publishRoundRobin(c.token, 50, 4, target)
	if failed > 0 {
		t.Fatalf("%d of 50 publishes failed before the restart", failed)
	}
	pg.run(t, "pg_ctlcluster", pg.version, pg.name, "stop", "-m", "fast")
	testkit.WaitFor(t, 15*time.Second, func() bool {
		return healthz(p) == http.StatusServiceUnavailable
	}, func() string { return "waiting for /healthz to answer 503 while the database is down" })
	during, refused := publishRoundRobin(c.token, 10, 2, target)
	t.Logf("while the database was down: %d publishes acknowledged, %d refused", len(during), refused)
	pg.run(t, "pg_ctlcluster", pg.version, pg.name, "start")
	testkit.WaitFor(t, 30*time.Second, func() bool {
		return healthz(p) == http.StatusOK
	}, func() string { return "waiting for /healthz to answer 200 after the restart" })
	after, failed := publishRoundRobin(c.token, 50, 4, target)
	if failed > 0 {
		t.Errorf("%d of 50 publishes failed after the restart", failed)
	}
	all := slices.Concat(before, during, after)
	if missing := rcv.waitFor(all, 30*time.Second); missing > 0 {
		t.Fatalf("%d of %d acknowledged events never delivered\n%s", missing, len(all), p.log())
	}
	select {
	case err := <-p.done:
		t.Fatalf("sluice exited during the restart: %v", err)
	default:
	}
	stopSluice(t, p)
}
