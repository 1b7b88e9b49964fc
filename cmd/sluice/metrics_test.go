package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// scrape reads GET /metrics and parses it as the Prometheus text format.
func scrape(t *testing.T, base string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return families, body.String()
}

// value returns the value of the family's series with exactly the labels
// given (name, value pairs), or -1 when there is none.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
series:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// A scenario of publishes, duplicates, bad requests, ingests, deliveries
// that succeed and fail, an erasure and a retention purge: /metrics parses
// and its counters say exactly what happened, with no URL or subject in a
// label.
func TestMetricsCountWhatHappened(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_RETRY_SCHEDULE=0s,10ms",
		"SLUICE_PAYLOAD_RETENTION=2s", "SLUICE_UNDELIVERED_RETENTION=2s", "SLUICE_RETENTION_INTERVAL=200ms")
	var okHits, failHits atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { okHits.Add(1) }))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		failHits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	// The failing destination gets only the ingested events: 6 failed
	// attempts, short of the 10 that would open its circuit.
	for url, types := range map[string][]string{ok.URL: {"*"}, failing.URL: {"ping"}} {
		if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": randomHex(6), "url": url, "event_types": types}, nil); code != http.StatusCreated {
			t.Fatalf("create destination: %d", code)
		}
	}
	var open, signed struct{ ID string }
	if code := call(t, "POST", p.url+"/v1/sources", token, map[string]any{"name": "open",
		"verification": map[string]string{"type": "none"}}, &open); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}
	if code := call(t, "POST", p.url+"/v1/sources", token, map[string]any{"name": "signed",
		"verification": map[string]string{"type": "stripe", "secret": "whsec_metrics_test_secret"}}, &signed); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}

	const published, ingested = 20, 3
	for i := range published {
		if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "order.paid",
			"payload": map[string]any{"n": i, "email": "ada@example.com"}, "idempotency_key": fmt.Sprint("k", i)}, nil); code != http.StatusAccepted {
			t.Fatalf("publish: %d", code)
		}
	}
	for range 2 {
		if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "order.paid",
			"payload": map[string]any{}, "idempotency_key": "k0"}, nil); code != http.StatusOK {
			t.Fatalf("duplicate publish: %d", code)
		}
	}
	if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": ""}, nil); code != http.StatusBadRequest {
		t.Fatalf("bad publish: %d", code)
	}
	for i := range ingested {
		if code := call(t, "POST", p.url+"/in/"+open.ID, "", map[string]any{"type": "ping", "id": fmt.Sprint("ev", i)}, nil); code != http.StatusAccepted {
			t.Fatalf("ingest: %d", code)
		}
	}
	if code := call(t, "POST", p.url+"/in/"+signed.ID, "", map[string]any{"type": "ping", "id": "unsigned"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("unsigned ingest: %d", code)
	}
	if code := call(t, "POST", p.url+"/v1/erasures", token, map[string]any{
		"subject": map[string]string{"type": "email", "value": "nobody@example.com"}}, nil); code != http.StatusOK {
		t.Fatalf("erasure: %d", code)
	}

	const events = published + ingested
	var families map[string]*dto.MetricFamily
	var text string
	testkit.WaitFor(t, 30*time.Second, func() bool {
		families, text = scrape(t, p.url)
		return value(families, "sluice_deliveries_total", "status", "succeeded") == events &&
			value(families, "sluice_deliveries_total", "status", "exhausted") == ingested &&
			// every payload: the events and a sluice.delivery.exhausted
			// notice for each ingested one
			value(families, "sluice_retention_purged_total", "what", "payloads") == events+ingested
	}, func() string { return "metrics never showed the scenario done:\n" + grepLines(text, "sluice_") })

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_events_received_total", []string{"via", "publish", "outcome", "accepted"}, published},
		{"sluice_events_received_total", []string{"via", "publish", "outcome", "duplicate"}, 2},
		{"sluice_events_received_total", []string{"via", "publish", "outcome", "invalid"}, 1},
		{"sluice_events_received_total", []string{"via", "ingest", "outcome", "accepted"}, ingested},
		{"sluice_events_received_total", []string{"via", "ingest", "outcome", "unauthorized"}, 1},
		{"sluice_ack_duration_seconds", []string{"via", "publish"}, published + 3},
		{"sluice_ack_duration_seconds", []string{"via", "ingest"}, ingested + 1},
		{"sluice_delivery_attempts_total", []string{"outcome", "succeeded", "error_class", ""}, events},
		{"sluice_delivery_attempts_total", []string{"outcome", "failed", "error_class", "http_status"}, 2 * ingested},
		{"sluice_delivery_latency_seconds", nil, events},
		{"sluice_erasures_total", nil, 1},
		{"sluice_deliveries_pending", []string{"state", "due"}, 0},
		{"sluice_deliveries_pending", []string{"state", "in_flight"}, 0},
		{"sluice_destinations", []string{"state", "active"}, 2},
		{"sluice_destinations", []string{"state", "paused"}, 0},
	} {
		if got := value(families, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := okHits.Load(); got != events {
		t.Errorf("the receiver got %d deliveries, want %d", got, events)
	}
	for _, secret := range []string{ok.URL, failing.URL, strings.TrimPrefix(ok.URL, "http://"), "ada@example.com", "example.com", token} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics contains %q", secret)
		}
	}
}

// grepLines returns the lines of text starting with prefix.
func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
