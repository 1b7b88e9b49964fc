package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// bodyReceiver is a loopback destination that keeps every delivery's body
// by its webhook-id.
type bodyReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]byte
}

func newBodyReceiver(t *testing.T) *bodyReceiver {
	r := &bodyReceiver{bodies: map[string][]byte{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies[req.Header.Get("webhook-id")] = b
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *bodyReceiver) body(id string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bodies[id]
	return b, ok
}

// Every sample `sluice trigger --list` names is published through the API
// and delivered, as its JSON, to a destination subscribed to its type; the
// token comes from SLUICE_ADMIN_TOKEN, the gateway from --url.
func TestTriggerDeliversEverySample(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	rcv := newBodyReceiver(t)
	code, list, stderr := runSluice(t, nil, "trigger", "--list")
	if code != 0 {
		t.Fatalf("trigger --list: exit %d\n%s", code, stderr)
	}
	var types []string
	for line := range strings.Lines(list) {
		types = append(types, strings.Fields(line)[0])
	}
	for _, want := range []string{"order.paid", "stripe.payment_intent.succeeded", "stripe.customer.created", "github.push"} {
		if !strings.Contains(list, want+" ") {
			t.Errorf("trigger --list does not name %s:\n%s", want, list)
		}
	}
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "samples", "url": rcv.URL,
		"event_types": types}, nil); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	idRE := regexp.MustCompile(`^evt_\S+\n$`)
	for _, typ := range types {
		code, stdout, stderr := runSluice(t, []string{"SLUICE_ADMIN_TOKEN=" + token}, "trigger", typ, "--url", p.url)
		if code != 0 || !idRE.MatchString(stdout) {
			t.Errorf("trigger %s: exit %d, stdout %q\n%s", typ, code, stdout, stderr)
			continue
		}
		id := strings.TrimSpace(stdout)
		var got []byte
		testkit.WaitFor(t, 20*time.Second, func() bool {
			var ok bool
			got, ok = rcv.body(id)
			return ok
		}, func() string { return typ + " was not delivered\n" + p.log() })
		var payload map[string]any
		if err := json.Unmarshal(got, &payload); err != nil || len(payload) == 0 {
			t.Errorf("%s delivered %q, want a JSON object", typ, got)
		}
		if ev := getEvent(t, p, token, id); ev.Type != typ {
			t.Errorf("event %s has type %q, want %q", id, ev.Type, typ)
		}
	}
	code, _, stderr = runSluice(t, []string{"SLUICE_ADMIN_TOKEN=" + sluice.NewToken()}, "trigger", "order.paid", "--url", p.url)
	if code != 1 || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "--token") {
		t.Errorf("trigger with a wrong token: exit %d, %q; want 1 naming 401 and --token", code, stderr)
	}
}
