package webhook_test

// These tests receive deliveries from a real Sluice gateway, run in
// process as `sluice serve` runs it, through Handler.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
	"github.com/sluicehq/sluice/webhook"
)

const gatewayToken = "sk_test_operator_token_for_the_webhook_tests_0"

// gateway is a running Sluice.
type gateway struct {
	url string
	log *testlog.Buffer
}

// startGateway runs Sluice in process on loopback, allowed to deliver to
// loopback, retrying failed attempts every 300ms and giving each attempt
// 1s.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	env := map[string]string{
		"SLUICE_ADDR":                       "127.0.0.1:0",
		"SLUICE_DATA_DIR":                   t.TempDir(),
		"SLUICE_ADMIN_TOKEN":                gatewayToken,
		"SLUICE_ALLOW_PRIVATE_DESTINATIONS": "true",
		"SLUICE_RETRY_SCHEDULE":             "0s" + strings.Repeat(",300ms", 20),
		"SLUICE_DELIVERY_TIMEOUT":           "1s",
		"SLUICE_DELIVERY_LEASE":             "10s",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g := &gateway{log: &testlog.Buffer{}}
	srv, err := cli.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(g.log, nil)), io.Discard)
	if err != nil {
		t.Fatalf("start sluice: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close sluice: %v", err)
		}
		if t.Failed() {
			t.Logf("sluice log:\n%s", g.log)
		}
	})
	g.url = srv.URL()
	return g
}

// call makes an API request and decodes the JSON answer into out (if not
// nil), failing the test unless the status is want.
func (g *gateway) call(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+gatewayToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// publish publishes an event with payload and returns its id.
func (g *gateway) publish(t *testing.T, payload any) string {
	t.Helper()
	var out struct{ ID string }
	g.call(t, http.MethodPost, "/v1/events", map[string]any{"type": "order.created", "payload": payload}, http.StatusAccepted, &out)
	return out.ID
}

// deliveries returns the statuses of an event's deliveries.
func (g *gateway) deliveries(t *testing.T, eventID string) []string {
	t.Helper()
	var out struct {
		Data []struct{ Status string }
	}
	g.call(t, http.MethodGet, "/v1/events/"+eventID+"/deliveries", nil, http.StatusOK, &out)
	statuses := make([]string, len(out.Data))
	for i, d := range out.Data {
		statuses[i] = d.Status
	}
	return statuses
}

// waitDelivered waits until every delivery of each event succeeded.
func (g *gateway) waitDelivered(t *testing.T, eventIDs ...string) {
	t.Helper()
	for _, id := range eventIDs {
		var statuses []string
		testkit.WaitFor(t, 30*time.Second, func() bool {
			statuses = g.deliveries(t, id)
			if len(statuses) == 0 {
				return false
			}
			for _, s := range statuses {
				if s != "succeeded" {
					return false
				}
			}
			return true
		}, func() string { return fmt.Sprintf("event %s deliveries %v, want all succeeded", id, statuses) })
	}
}

// receiver is a loopback server passing what arrives to a Handler that it
// can swap, as a receiver restarting with new settings would, keeping the
// store.
type receiver struct {
	srv      *httptest.Server
	store    *webhook.MemoryStore
	handler  atomic.Pointer[http.Handler]
	rejected chan error // verification failures, from OnError

	mu       sync.Mutex
	arrivals map[string]int // requests by webhook-id, before verification
	handled  map[string]int // calls of the wrapped handler by webhook-id
	done     map[string]int // of those, answered 2xx
	sigs     map[string]int // signature entries in the last handled request
	second   map[string]chan struct{}
}

// A delivered payload says how the wrapped handler should treat it.
type order struct {
	N         int  `json:"n"`
	FailFirst bool `json:"fail_first,omitempty"` // answer 500 the first time
	Slow      bool `json:"slow,omitempty"`       // answer only once the sender sent it again
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{
		store:    &webhook.MemoryStore{},
		rejected: make(chan error, 100),
		arrivals: map[string]int{},
		handled:  map[string]int{},
		done:     map[string]int{},
		sigs:     map[string]int{},
		second:   map[string]chan struct{}{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.arrivals[id]++
		n := r.arrivals[id]
		r.mu.Unlock()
		(*r.handler.Load()).ServeHTTP(w, req)
		if n == 2 {
			// Once answered, so that a first request still in the
			// wrapped handler was in flight for all of this one.
			r.mu.Lock()
			close(r.secondArrival(id))
			r.mu.Unlock()
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// secondArrival is closed once a second request for id was answered; r.mu
// held.
func (r *receiver) secondArrival(id string) chan struct{} {
	ch, ok := r.second[id]
	if !ok {
		ch = make(chan struct{})
		r.second[id] = ch
	}
	return ch
}

// verifyWith swaps in a Handler verifying with secrets, on the same store.
func (r *receiver) verifyWith(secrets ...string) {
	v := &webhook.Verifier{Secrets: secrets}
	var h http.Handler = v.Handler(http.HandlerFunc(r.handle), webhook.HandlerOptions{
		Store:   r.store,
		OnError: func(_ *http.Request, err error) { r.rejected <- err },
	})
	r.handler.Store(&h)
}

// handle is the wrapped handler: what the application behind Handler does.
func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	msg, ok := webhook.MessageFrom(req.Context())
	if !ok {
		http.Error(w, "no message in the context", http.StatusInternalServerError)
		return
	}
	var o order
	if err := json.NewDecoder(req.Body).Decode(&o); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.handled[msg.ID]++
	r.sigs[msg.ID] = len(strings.Fields(req.Header.Get("webhook-signature")))
	first := r.handled[msg.ID] == 1
	second := r.secondArrival(msg.ID)
	r.mu.Unlock()
	if o.FailFirst && first {
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	if o.Slow {
		select {
		case <-second: // Sluice gave up on this attempt and sent it again
		case <-time.After(30 * time.Second):
		}
	}
	r.mu.Lock()
	r.done[msg.ID]++
	r.mu.Unlock()
}

// counts returns how often id arrived, reached the wrapped handler, and
// was handled successfully.
func (r *receiver) counts(id string) (arrivals, handled, done int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrivals[id], r.handled[id], r.done[id]
}

// requireOnce fails unless each event was handled successfully exactly
// once, having reached the wrapped handler handled times in all.
func (r *receiver) requireOnce(t *testing.T, handled int, eventIDs ...string) {
	t.Helper()
	for _, id := range eventIDs {
		if _, h, d := r.counts(id); h != handled || d != 1 {
			t.Errorf("event %s reached the handler %d times and succeeded %d times, want %d and 1", id, h, d, handled)
		}
	}
}

func (r *receiver) signatures(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sigs[id]
}

// Deliveries from Sluice reach the wrapped handler verified and exactly
// once each: through failures, lost answers, replays and secret
// rotations.
func TestReceiveFromSluice(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newReceiver(t)
	first := signature.NewSecret()
	r.verifyWith(first)
	var dest struct{ ID, Secret string }
	g.call(t, http.MethodPost, "/v1/destinations",
		map[string]any{"name": "receiver", "url": r.srv.URL, "secret": first}, http.StatusCreated, &dest)

	publishAll := func(n int, o order) []string {
		ids := make([]string, n)
		for i := range ids {
			o.N = i
			ids[i] = g.publish(t, o)
		}
		g.waitDelivered(t, ids...)
		return ids
	}

	plain := publishAll(5, order{})
	r.requireOnce(t, 1, plain...)

	// A 500 is retried by Sluice, and the retry reaches the handler.
	failed := publishAll(2, order{FailFirst: true})
	r.requireOnce(t, 2, failed...)

	// An answer Sluice does not hear in time: it sends again while the
	// first is still being handled (409), then after (200, a duplicate).
	slow := publishAll(1, order{Slow: true})
	r.requireOnce(t, 1, slow...)
	if a, _, _ := r.counts(slow[0]); a < 3 {
		t.Errorf("slow event arrived %d times, want at least 3 (timed out, in flight, duplicate)", a)
	}

	// A replay sends the event again with its id: a duplicate.
	before, _, _ := r.counts(plain[0])
	g.call(t, http.MethodPost, "/v1/events/"+plain[0]+"/replay", nil, http.StatusAccepted, nil)
	g.waitDelivered(t, plain[0])
	if a, _, _ := r.counts(plain[0]); a <= before {
		t.Errorf("replayed event arrived %d times in all, want more than the %d before", a, before)
	}
	r.requireOnce(t, 1, plain[0])

	// A rotation with a grace period: Sluice signs with both secrets, so
	// the receiver still knowing only the old one keeps verifying...
	var rotated struct{ Secret string }
	g.call(t, http.MethodPost, "/v1/destinations/"+dest.ID+"/rotate-secret",
		map[string]string{"grace_period": "1h"}, http.StatusOK, &rotated)
	second := rotated.Secret
	graceOld := publishAll(2, order{})
	r.requireOnce(t, 1, graceOld...)
	if n := r.signatures(graceOld[0]); n != 2 {
		t.Errorf("%d signatures during the grace period, want 2", n)
	}
	// ...and so does one configured with both, and one with the new alone.
	r.verifyWith(second, first)
	graceBoth := publishAll(2, order{})
	r.requireOnce(t, 1, graceBoth...)
	r.verifyWith(second)
	graceNew := publishAll(2, order{})
	r.requireOnce(t, 1, graceNew...)

	// A rotation without grace: the old secret stops signing at once, so
	// a receiver not yet told of the new one refuses (401) until it is,
	// and Sluice's retry then gets through.
	g.call(t, http.MethodPost, "/v1/destinations/"+dest.ID+"/rotate-secret",
		map[string]string{"grace_period": "0s"}, http.StatusOK, &rotated)
	third := rotated.Secret
	drain(r.rejected)
	late := g.publish(t, order{N: 99})
	select {
	case err := <-r.rejected:
		if !errors.Is(err, webhook.ErrNoMatch) {
			t.Fatalf("receiver rejected with %v, want no matching signature", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver never rejected a delivery signed with a secret it does not know")
	}
	r.verifyWith(third, second)
	g.waitDelivered(t, late)
	r.requireOnce(t, 1, late)
	if n := r.signatures(late); n != 1 {
		t.Errorf("%d signatures after a rotation without grace, want 1", n)
	}

	// Nothing arrived that was not published.
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range slices.Concat(plain, failed, slow, graceOld, graceBoth, graceNew, []string{late}) {
		delete(r.arrivals, id)
	}
	if len(r.arrivals) != 0 {
		t.Errorf("requests for unknown ids arrived: %v", r.arrivals)
	}
}

func drain(ch chan error) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
