package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
)

// localReceiver is a developer's webhook endpoint on loopback: it verifies
// every request with the Standard Webhooks library and answers 202, but
// the first try of a payload marked "flaky" gets a 500.
type localReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	verify *standardwebhooks.Webhook

	mu    sync.Mutex
	tries map[string][]int // webhook-id → the statuses answered
}

func newLocalReceiver(t *testing.T, secret string) *localReceiver {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &localReceiver{t: t, verify: v, tries: make(map[string][]int)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *localReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id")
	if err := r.verify.Verify(body, req.Header); err != nil || req.URL.Path != "/hooks" {
		r.t.Errorf("delivery %s to %s does not verify: %v", id, req.URL.Path, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var payload struct{ Flaky bool }
	_ = json.Unmarshal(body, &payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	status := http.StatusAccepted
	if payload.Flaky && len(r.tries[id]) == 0 {
		status = http.StatusInternalServerError
	}
	r.tries[id] = append(r.tries[id], status)
	w.WriteHeader(status)
}

// answered returns the statuses the receiver answered the event with.
func (r *localReceiver) answered(eventID string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.tries[eventID]...)
}

// listenProc is a running `sluice listen`.
type listenProc struct {
	cmd    *exec.Cmd
	stdout *testlog.Buffer
	stderr *testlog.Buffer
	done   chan error
}

var listenIDRE = regexp.MustCompile(`listen destination (dst_\S+)\)`)

// startListen runs `sluice listen` with args and waits until it has
// registered, returning it and its listen destination's id.
func startListen(t *testing.T, args ...string) (*listenProc, string) {
	t.Helper()
	l := &listenProc{cmd: exec.Command(binary, append([]string{"listen"}, args...)...), stdout: &testlog.Buffer{},
		stderr: &testlog.Buffer{}, done: make(chan error, 1)}
	l.cmd.Stdout, l.cmd.Stderr = l.stdout, l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.done <- l.cmd.Wait() }()
	t.Cleanup(func() {
		if l.cmd.ProcessState == nil {
			l.cmd.Process.Kill()
			<-l.done
		}
	})
	testkit.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(l.stdout.String(), "Press Ctrl-C") },
		func() string { return "sluice listen did not start:\n" + l.stdout.String() + l.stderr.String() })
	m := listenIDRE.FindStringSubmatch(l.stdout.String())
	if m == nil {
		t.Fatalf("sluice listen printed no destination id:\n%s", l.stdout.String())
	}
	return l, m[1]
}

// stop interrupts the command, as Ctrl-C does, and returns its exit code.
func (l *listenProc) stop(t *testing.T) int {
	t.Helper()
	if err := l.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice listen did not stop:\n%s%s", l.stdout.String(), l.stderr.String())
	}
	return l.cmd.ProcessState.ExitCode()
}

// The newcomer's path: a gateway that refuses private destinations, a
// receiver on loopback, `sluice listen` between them. Published events
// arrive signed and verified, each attempt printed and recorded with the
// receiver's status, a failure retried; no dispatcher ever POSTs to the
// listen destination, another tenant cannot see it, and Ctrl-C deletes
// it and exits 0.
func TestListenForwardsToLocalReceiver(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_ALLOW_PRIVATE_DESTINATIONS=false",
		"SLUICE_RETRY_SCHEDULE=0s,200ms,200ms")
	listenScenario(t, token, p, p)
}

// On a shared PostgreSQL the listener's claims and reports may go to any
// process: events published through one reach a listener connected to
// another, and that one's dispatcher, and the other's, leave them alone.
func TestListenAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	first := c.startWith(t, "", "SLUICE_ALLOW_PRIVATE_DESTINATIONS=false")
	c.requireMigratedSchema(t)
	second := c.startWith(t, "", "SLUICE_ALLOW_PRIVATE_DESTINATIONS=false")
	listenScenario(t, c.token, first, second)
}

// listenScenario runs `sluice listen` against at and publishes through
// via, with token the operator's.
func listenScenario(t *testing.T, token string, at, via *proc) {
	secret := signature.NewSecret()
	recv := newLocalReceiver(t, secret)

	// The gateway allows no private destination: the listener needs none.
	var refused struct{ Error struct{ Code string } }
	if code := call(t, "POST", at.url+"/v1/destinations", token, map[string]any{"url": recv.srv.URL + "/hooks"},
		&refused); code != http.StatusBadRequest {
		t.Fatalf("a loopback destination was answered %d, want 400: the gateway allows private destinations", code)
	}

	l, listenID := startListen(t, "--url", at.url, "--token", token, "--forward-to", recv.srv.URL+"/hooks",
		"--events", "order.*", "--secret", secret)
	if !strings.Contains(l.stdout.String(), "Signing secret: "+secret) {
		t.Errorf("sluice listen did not print its signing secret:\n%s", l.stdout.String())
	}

	const marker = "payload-only-the-receiver-sees"
	publish := func(typ string, payload map[string]any) string {
		t.Helper()
		var out struct{ ID string }
		if code := call(t, "POST", via.url+"/v1/events", token, map[string]any{"type": typ, "payload": payload},
			&out); code != http.StatusAccepted {
			t.Fatalf("publish %s: %d", typ, code)
		}
		return out.ID
	}
	created := publish("order.created", map[string]any{"id": "o1", "note": marker})
	flaky := publish("order.paid", map[string]any{"id": "o1", "flaky": true})
	other := publish("user.created", map[string]any{"id": "u1"})

	testkit.WaitFor(t, 30*time.Second, func() bool {
		return len(recv.answered(created)) == 1 && len(recv.answered(flaky)) == 2
	}, func() string {
		return fmt.Sprintf("the receiver answered %v and %v\n%s%s", recv.answered(created), recv.answered(flaky),
			l.stdout.String(), l.stderr.String())
	})
	if got := recv.answered(other); len(got) != 0 {
		t.Errorf("an event the listener did not ask for was forwarded: %v", got)
	}

	// Each attempt is recorded, with what the receiver answered, and
	// nothing else attempted the listen destination's deliveries.
	type attempt struct {
		DestinationID string `json:"destination_id"`
		Outcome       string `json:"outcome"`
		HTTPStatus    int    `json:"http_status"`
	}
	attempts := func(eventID string) []attempt {
		var out struct{ Data []attempt }
		call(t, "GET", via.url+"/v1/events/"+eventID+"/attempts", token, nil, &out)
		return out.Data
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(attempts(flaky)) == 2 && len(attempts(created)) == 1 },
		func() string { return fmt.Sprintf("attempts %+v and %+v", attempts(created), attempts(flaky)) })
	if got := attempts(created); got[0].DestinationID != listenID || got[0].Outcome != "succeeded" || got[0].HTTPStatus != 202 {
		t.Errorf("attempts of %s = %+v, want one success with 202", created, got)
	}
	if got := attempts(flaky); got[0].HTTPStatus != 500 || got[0].Outcome != "failed" || got[1].HTTPStatus != 202 {
		t.Errorf("attempts of %s = %+v, want 500 then 202", flaky, got)
	}
	var ds struct{ Data []struct{ ID string } }
	call(t, "GET", via.url+"/v1/events/"+other+"/deliveries", token, nil, &ds)
	if len(ds.Data) != 0 {
		t.Errorf("the unmatched event has deliveries %+v", ds.Data)
	}

	// One line per attempt: when, the event, the answer, the latency;
	// never the body.
	out := l.stdout.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  ` + created + `  order\.created  202 Accepted  \d+\.\dms$`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  ` + flaky + `  order\.paid  500 Internal Server Error  \d+\.\dms  retry at \d\d:\d\d:\d\d$`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  ` + flaky + `  order\.paid  202 Accepted  \d+\.\dms  attempt 2$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("sluice listen printed no line matching %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, marker) {
		t.Errorf("sluice listen printed a payload:\n%s", out)
	}

	// Another tenant's token finds no such listener.
	var tenant struct{ Token string }
	if code := call(t, "POST", at.url+"/v1/tenants", token, map[string]string{"name": "other"}, &tenant); code != http.StatusCreated {
		t.Fatalf("create tenant: %d", code)
	}
	for _, r := range []struct{ method, path string }{{"POST", "/claim"}, {"DELETE", ""}} {
		if code := call(t, r.method, at.url+"/v1/listen/"+listenID+r.path, tenant.Token, nil, nil); code != http.StatusNotFound {
			t.Errorf("%s of another tenant's listen destination: %d, want 404", r.method, code)
		}
	}

	if code := l.stop(t); code != 0 {
		t.Fatalf("sluice listen exited %d after Ctrl-C:\n%s%s", code, l.stdout.String(), l.stderr.String())
	}
	if !strings.Contains(l.stdout.String(), "Stopped; listen destination "+listenID+" deleted.") {
		t.Errorf("sluice listen did not say it deleted its destination:\n%s", l.stdout.String())
	}
	if code := call(t, "GET", via.url+"/v1/destinations/"+listenID, token, nil, nil); code != http.StatusNotFound {
		t.Errorf("the listen destination after Ctrl-C: %d, want 404", code)
	}
	for _, p := range []*proc{at, via} {
		if logs := p.log(); strings.Contains(logs, marker) || strings.Contains(logs, secret) ||
			strings.Contains(logs, "attempt failed") {
			t.Errorf("the gateway's log holds a payload or the secret, or a dispatcher attempt:\n%s", logs)
		}
	}
}
