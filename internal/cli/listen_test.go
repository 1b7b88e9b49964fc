package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
)

// Bad flags are refused before anything is created, naming the flag.
func TestListenFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--token", "x"}, "--forward-to"},
		{[]string{"--token", "x", "--forward-to", "localhost:3000"}, "--forward-to"},
		{[]string{"--token", "x", "--forward-to", "http://localhost:3000", "--url", "127.0.0.1:8080"}, "--url"},
		{[]string{"--token", "x", "--forward-to", "http://localhost:3000", "--timeout", "0s"}, "--timeout"},
		{[]string{"--token", "x", "--forward-to", "http://localhost:3000", "extra"}, "extra"},
	} {
		err := Listen(context.Background(), tt.args, io.Discard, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("sluice listen %v: %v, want a usage error naming %s", tt.args, err, tt.want)
		}
	}
}

// A delivery is forwarded with its headers and exact body, and its
// attempt timed; a receiver that is not there refuses the connection.
func TestListenForwardOne(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- body
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(recv.Close)
	d := &listenDelivery{DeliveryID: "dlv_1", Attempt: 2, Body: []byte("a=1&b=2"),
		Headers: map[string]string{"content-type": "application/x-www-form-urlencoded", "webhook-id": "evt_1"}}
	l := &listener{target: recv.URL + "/hooks", timeout: 5 * time.Second, forward: newForwardClient()}
	f := l.forwardOne(context.Background(), d)
	r, body := <-got, <-bodies
	if r.Method != http.MethodPost || r.URL.Path != "/hooks" || string(body) != "a=1&b=2" ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Header.Get("webhook-id") != "evt_1" {
		t.Fatalf("forwarded %s %s %q with headers %v", r.Method, r.URL.Path, body, r.Header)
	}
	if f.DeliveryID != "dlv_1" || f.Attempt != 2 || f.Status != http.StatusServiceUnavailable || f.Error != "" ||
		f.RetryAfter != "7" || f.duration <= 0 || f.DurationMS != f.duration.Milliseconds() {
		t.Fatalf("forwarded = %+v", f)
	}

	recv.Close()
	l.forward = newForwardClient() // no connection kept from the first request
	if f := l.forwardOne(context.Background(), d); f.Status != 0 || f.Error != "refused" || f.duration <= 0 {
		t.Fatalf("forwarded to nothing = %+v, want the connection refused", f)
	}
}

// Run in process against a gateway that allows no private destination,
// sluice listen forwards to a loopback receiver; when its destination is
// purged from under it (a laptop asleep past the keep-alive) it listens
// again with the same secret, and when its context ends it deletes its
// destination and returns nil.
func TestListenInProcess(t *testing.T) {
	t.Parallel()
	srv, _ := startTestServer(t, nil, defaultTimeouts)
	secret := signature.NewSecret()
	verify, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	verified := map[string]bool{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verify.Verify(body, r.Header); err != nil {
			t.Errorf("a forwarded delivery does not verify: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		verified[r.Header.Get("webhook-id")] = true
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &testlog.Buffer{}, &testlog.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- Listen(ctx, []string{"--url", srv.URL(), "--token", testToken, "--forward-to", recv.URL,
			"--secret", secret}, stdout, stderr)
	}()
	idRE := regexp.MustCompile(`(?:listen destination|listening again as) (dst_[0-9A-Z]+)`)
	listenID := func(n int) string {
		t.Helper()
		testkit.WaitFor(t, 10*time.Second, func() bool { return len(idRE.FindAllStringSubmatch(stdout.String(), -1)) >= n },
			func() string { return "sluice listen printed:\n" + stdout.String() + stderr.String() })
		return idRE.FindAllStringSubmatch(stdout.String(), -1)[n-1][1]
	}
	delivered := func() {
		t.Helper()
		eventID := publishTo(t, srv, map[string]any{"type": "x.y", "payload": map[string]any{"n": 1}})
		testkit.WaitFor(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return verified[eventID]
		}, func() string { return "event " + eventID + " never arrived:\n" + stdout.String() + stderr.String() })
	}

	first := listenID(1)
	delivered()
	if code := apiCall(t, srv, "DELETE", "/v1/destinations/"+first, nil); code != http.StatusNoContent {
		t.Fatalf("delete the listen destination: %d", code)
	}
	second := listenID(2)
	if second == first || !strings.Contains(stdout.String(), "had expired") {
		t.Fatalf("after its destination went, sluice listen printed:\n%s", stdout.String())
	}
	delivered()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Listen returned %v after its context ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Listen did not return after its context ended")
	}
	if code := apiCall(t, srv, "GET", "/v1/destinations/"+second, nil); code != http.StatusNotFound {
		t.Fatalf("the listen destination after the end: %d, want 404", code)
	}
}

// publishTo publishes an event through srv and returns its id.
func publishTo(t *testing.T, srv *Server, body map[string]any) string {
	t.Helper()
	var out struct{ ID string }
	if code := apiCallInto(t, srv, "POST", "/v1/events", body, &out); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	return out.ID
}

// apiCall calls srv's API with the operator token and returns the status.
func apiCall(t *testing.T, srv *Server, method, path string, body any) int {
	t.Helper()
	return apiCallInto(t, srv, method, path, body, nil)
}

// apiCallInto is apiCall decoding the answer into out.
func apiCallInto(t *testing.T, srv *Server, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode
}
