package main_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// A destination may not be the gateway's own ingest URL, and a loop made
// through something it does not recognise as itself (a proxy here) ends
// after --max-hops passes: each delivery counts one more hop, and ingest
// refuses the event past the limit with 508 and one sluice.anomaly.loop.
func TestDeliveryLoopEnds(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_RETRY_SCHEDULE=0s,1h")

	var src struct {
		ID        string `json:"id"`
		IngestURL string `json:"ingest_url"`
	}
	if code := call(t, "POST", p.url+"/v1/sources", token, map[string]any{"name": "loopback",
		"verification": map[string]any{"type": "none"}}, &src); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}
	var refused struct {
		Error struct{ Code, Message string }
	}
	for _, u := range []string{src.IngestURL, strings.Replace(src.IngestURL, "127.0.0.1", "localhost", 1)} {
		if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": randomHex(6), "url": u,
			"event_types": []string{"*"}}, &refused); code != http.StatusBadRequest || !strings.Contains(refused.Error.Message, "loop") {
			t.Fatalf("a destination at the gateway's own address: %d %+v", code, refused)
		}
	}

	// The proxy passes every delivery on to the source, headers and all,
	// and counts the gateway's refusals.
	var loops, passed, alerted atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/alerts" {
			alerted.Add(1)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, src.IngestURL, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusLoopDetected:
			loops.Add(1)
		case http.StatusAccepted:
			passed.Add(1)
		}
		w.WriteHeader(resp.StatusCode)
	}))
	defer proxy.Close()
	for range 2 {
		if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": randomHex(6), "url": proxy.URL,
			"event_types": []string{"*"}}, nil); code != http.StatusCreated {
			t.Fatalf("create destination: %d", code)
		}
	}
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": randomHex(6), "url": proxy.URL + "/alerts",
		"event_types": []string{"sluice.anomaly.*"}}, nil); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}

	publish(t, p, token, map[string]any{"type": "order.paid", "payload": map[string]any{"n": 1}})
	// Passes 1 to 3 are accepted, 2 + 4 + 8 events; the 16 deliveries of
	// the third pass's events are refused.
	testkit.WaitFor(t, 30*time.Second, func() bool { return loops.Load() >= 16 && alerted.Load() >= 1 },
		func() string { return "waiting for the loop to be refused and announced" })
	if got := passed.Load(); got != 14 {
		t.Fatalf("%d events came back through the loop; want 2+4+8 = 14", got)
	}
	var events struct {
		Data []struct{ Type string }
	}
	call(t, "GET", p.url+"/v1/events?limit=100", token, nil, &events)
	var notices, others int
	for _, e := range events.Data {
		if e.Type == sluice.NoticeAnomalyPrefix+sluice.AnomalyLoop {
			notices++
		} else {
			others++
		}
	}
	if notices != 1 || others != 15 {
		t.Fatalf("%d loop notices and %d other events; want 1 and 15", notices, others)
	}
	if log := p.log(); !strings.Contains(log, `reason=loop`) {
		t.Fatalf("the refusal was not logged:\n%s", log)
	}
}
