package main_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// anyToken matches an API token anywhere.
var anyToken = regexp.MustCompile(`sk_[A-Za-z0-9_-]{20,}`)

// A first start on a busy address fails before it creates anything or
// prints a token; the next start, on a free address, prints the token.
func TestAdminTokenNotSpentOnBusyPort(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runSluice(t, nil, "serve", "--addr", busy.Addr().String(), "--data-dir", dir)
	if code == 0 || !strings.Contains(stderr, "--addr (SLUICE_ADDR)") {
		t.Fatalf("serve on a busy address: exit %d, stderr %q; want a failure naming --addr", code, stderr)
	}
	if anyToken.MatchString(stdout + stderr) {
		t.Fatalf("serve on a busy address printed a token:\n%s%s", stdout, stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("serve on a busy address created the data dir (%v)", err)
	}
	p := startSluice(t, dir)
	tokenRE := regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`)
	var token string
	testkit.WaitFor(t, 10*time.Second, func() bool {
		token = tokenRE.FindString(p.stdout.String())
		return token != ""
	}, func() string { return "no token printed on the start after the busy one" })
	if code := call(t, "GET", p.url+"/v1/destinations", token, nil, nil); code != http.StatusOK {
		t.Fatalf("printed token: status %d", code)
	}
}

// An --admin-token shorter than 32 characters is refused at start, without
// being echoed.
func TestAdminTokenTooShortRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		env  []string
	}{
		{[]string{"--admin-token", "hunter"}, nil},
		{nil, []string{"SLUICE_ADMIN_TOKEN=hunter2hunter2hunter2"}},
	} {
		code, stdout, stderr := runSluice(t, c.env, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, "--admin-token (SLUICE_ADMIN_TOKEN)") || !strings.Contains(stderr, "at least 32") {
			t.Errorf("%v %v: exit %d, stderr %q; want 1 naming --admin-token and the 32 characters", c.args, c.env, code, stderr)
		}
		if strings.Contains(stdout+stderr, "hunter") {
			t.Errorf("%v %v: the refusal echoes the token", c.args, c.env)
		}
	}
}

// The first start names the dashboard and the next step, never repeating
// the token; later starts name the dashboard only.
func TestAdminFirstStartNamesDashboardAndNextStep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startSluice(t, dir)
	dashboard := "msg=dashboard url=" + p.url + "/ui/"
	next := `command="sluice trigger order.paid --token <admin token> --url ` + p.url + `"`
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(p.log(), dashboard) && strings.Contains(p.log(), next)
	}, func() string { return "the first start does not name the dashboard and the next step:\n" + p.log() })
	if anyToken.MatchString(p.log()) {
		t.Errorf("the log shows a token:\n%s", p.log())
	}
	stopSluice(t, p)
	p = startSluice(t, dir)
	testkit.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(p.log(), "msg=dashboard url="+p.url+"/ui/") },
		func() string { return "a later start does not name the dashboard:\n" + p.log() })
	if strings.Contains(p.log(), "next step") {
		t.Errorf("a later start shows the next step again:\n%s", p.log())
	}
	// Behind a proxy, clients reach the dashboard at the public URL.
	p = startSluice(t, t.TempDir(), "SLUICE_PUBLIC_URL=https://gw.example.com/")
	testkit.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(p.log(), "msg=dashboard url=https://gw.example.com/ui/") &&
			strings.Contains(p.log(), "--url https://gw.example.com\"")
	}, func() string { return "the dashboard and next step do not use the public URL:\n" + p.log() })
}

// A lost operator token is replaced by starting with a new one in
// SLUICE_ADMIN_TOKEN (docs/cli.md): the new token works and the old one no
// longer does, on that start and on later ones without the variable.
func TestAdminTokenReplacedOnRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startSluice(t, dir)
	tokenRE := regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`)
	var lost string
	testkit.WaitFor(t, 10*time.Second, func() bool {
		lost = tokenRE.FindString(p.stdout.String())
		return lost != ""
	}, func() string { return "no token printed on first start" })
	stopSluice(t, p)

	replacement := sluice.NewToken()
	p = startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+replacement)
	if got := call(t, "GET", p.url+"/v1/destinations", replacement, nil, nil); got != http.StatusOK {
		t.Errorf("the new token: status %d, want 200", got)
	}
	if got := call(t, "GET", p.url+"/v1/destinations", lost, nil, nil); got != http.StatusUnauthorized {
		t.Errorf("the lost token: status %d, want 401", got)
	}
	stopSluice(t, p)
	p = startSluice(t, dir)
	if got := call(t, "GET", p.url+"/v1/destinations", replacement, nil, nil); got != http.StatusOK {
		t.Errorf("the new token after a start without the variable: status %d, want 200", got)
	}
	if strings.Contains(p.stdout.String(), "sk_") {
		t.Errorf("a token was printed on a later start")
	}
}
