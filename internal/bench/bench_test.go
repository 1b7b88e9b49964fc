package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testlog"
)

func TestRunCountsAndLatencies(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{failEvery: 10, dupEvery: 7}
	srv := startFakeGateway(t, g)
	var progress testlog.Buffer
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 300, Concurrency: 16, PayloadBytes: 512,
		Timeout: 30 * time.Second, SkipBaseline: true, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Baseline != nil {
		t.Errorf("baseline measured although skipped: %+v", rep.Baseline)
	}
	res, d := rep.Sluice, rep.Sluice.Delivery
	if res.Sent != 300 || res.Errors != 30 || res.Accepted != 270 || d == nil || d.Delivered != 270 {
		t.Fatalf("sent %d, errors %d, accepted %d, delivery %+v; want 300, 30, 270, 270 delivered",
			res.Sent, res.Errors, res.Accepted, d)
	}
	if got := res.ErrorsByClass; len(got) != 1 || got["http_500"] != 30 {
		t.Errorf("ErrorsByClass = %v, want http_500: 30", got)
	}
	// Every 7th of the accepted events was delivered twice.
	if want := 300/7 - 300/70; d.Duplicates != want {
		t.Errorf("Duplicates = %d, want %d", d.Duplicates, want)
	}
	for name, p := range map[string]Percentiles{"ack": res.AckLatency, "e2e": d.Latency} {
		if p.P50 <= 0 || p.P50 > p.P95 || p.P95 > p.P99 || p.P99 > p.Max {
			t.Errorf("%s percentiles not ordered: %+v", name, p)
		}
	}
	if res.Duration <= 0 || d.Duration <= 0 || res.AcceptedPerSec <= 0 || d.PerSec <= 0 {
		t.Errorf("durations and rates must be positive: %+v, %+v", res, d)
	}
	if res.Schedule != nil {
		t.Errorf("closed loop has a schedule: %+v", res.Schedule)
	}
	if _, ok := rep.AcceptedRatio(); ok {
		t.Errorf("a ratio to a baseline that was skipped")
	}
	g.mu.Lock()
	if len(g.deleted) != 1 || g.deleted[0] != "dst_bench" {
		t.Errorf("deleted %v, want [dst_bench]", g.deleted)
	}
	g.mu.Unlock()

	var table strings.Builder
	rep.WriteTable(&table)
	out := table.String()
	for _, want := range []string{
		"scenario    e2e: POST /v1/events", "closed loop: 16 senders, 300 events, 512-byte payloads",
		"sent", "300", "accepted", "270", "delivered", "http_500", "30",
		formatDuration(res.AckLatency.P50), formatDuration(res.AckLatency.P99),
		formatDuration(d.Latency.P95), formatDuration(d.Latency.Max),
		formatRate(res.AcceptedPerSec), formatRate(d.PerSec),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "baseline") {
		t.Errorf("table mentions a baseline that was skipped:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// The ingest scenario creates a Stripe source, signs every webhook so the
// real verifier accepts it, matches deliveries by the event_id the ingest
// answer names, and sends the baseline and the forwarder the same signed
// requests.
func TestRunIngest(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{}
	srv := startFakeGateway(t, g)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Scenario: ScenarioIngest, Events: 120, Concurrency: 8, PayloadBytes: 300,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The fake gateway numbers every event it sees: the baseline's went elsewhere.
	g.mu.Lock()
	if g.n != 120 {
		t.Errorf("gateway saw %d events, want 120", g.n)
	}
	if len(g.deleted) != 2 || g.deleted[0] != "src_bench" || g.deleted[1] != "dst_bench" {
		t.Errorf("deleted %v, want [src_bench dst_bench]", g.deleted)
	}
	g.mu.Unlock()
	s, b := rep.Sluice, rep.Baseline
	if s.Accepted != 120 || s.Errors != 0 || s.Delivery == nil || s.Delivery.Delivered != 120 {
		t.Errorf("sluice: accepted %d, errors %d, delivery %+v; want 120 accepted and delivered", s.Accepted, s.Errors, s.Delivery)
	}
	if b == nil || b.Accepted != 120 || b.Errors != 0 || b.AcceptedPerSec <= 0 || b.Delivery != nil {
		t.Fatalf("baseline %+v, want 120 accepted, no deliveries", b)
	}
	// The forwarder answers the ingest path with an event_id, as Sluice
	// does, and delivers every webhook.
	if f := rep.Forwarder; f == nil || f.Accepted != 120 || f.Errors != 0 || f.Delivery == nil || f.Delivery.Delivered != 120 {
		t.Fatalf("forwarder %+v, want 120 accepted and delivered", f)
	}
	for name, ratio := range map[string]func() (float64, bool){"accepted": rep.AcceptedRatio, "delivered": rep.DeliveredRatio} {
		if x, ok := ratio(); !ok || x <= 0 {
			t.Errorf("%s ratio = %v, %v; want a positive ratio", name, x, ok)
		}
	}
}

// The publish scenario measures acknowledgements and leaves deliveries
// alone: no delivery figures, no delivered ratio.
func TestRunPublishDoesNotAwaitDeliveries(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{dropEvery: 1} // nothing is ever delivered
	srv := startFakeGateway(t, g)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Scenario: ScenarioPublish, Events: 50, Concurrency: 4, Timeout: time.Hour,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Sluice.Accepted != 50 || rep.Sluice.Delivery != nil {
		t.Errorf("accepted %d, delivery %+v; want 50 and no delivery figures", rep.Sluice.Accepted, rep.Sluice.Delivery)
	}
	if _, ok := rep.DeliveredRatio(); ok {
		t.Errorf("a delivered ratio without deliveries")
	}
	if x, ok := rep.AcceptedRatio(); !ok || x <= 0 {
		t.Errorf("accepted ratio = %v, %v; want a positive ratio", x, ok)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "not awaited (publish scenario)") || strings.Contains(table.String(), "end to end") {
		t.Errorf("table does not say deliveries were not awaited:\n%s", table.String())
	}
}

// An open-loop run starts every event, on both servers, and says how it
// kept to its schedule. Whether it kept up depends on the machine, so it is
// not asserted.
func TestRunOpenLoop(t *testing.T) {
	t.Parallel()
	srv := startFakeGateway(t, &fakeGateway{})
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 100, Rate: 2000, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for name, res := range map[string]*Result{"sluice": rep.Sluice, "baseline": rep.Baseline, "forwarder": rep.Forwarder} {
		if res == nil || res.Schedule == nil {
			t.Fatalf("%s: no schedule: %+v", name, res)
		}
		if s := res.Schedule; s.Started != 100 || s.Rate != 2000 || s.MaxInFlight != defaultMaxInFlight || res.Accepted != 100 {
			t.Errorf("%s: accepted %d, schedule %+v; want 100 started at 2000/s, at most %d in flight",
				name, res.Accepted, s, defaultMaxInFlight)
		}
	}
	for name, res := range map[string]*Result{"sluice": rep.Sluice, "forwarder": rep.Forwarder} {
		if d := res.Delivery; d == nil || d.Delivered != 100 {
			t.Errorf("%s: delivery %+v, want 100 delivered", name, d)
		}
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "open loop: 2,000 ev/s, at most 4096 in flight") ||
		!strings.Contains(table.String(), "schedule") {
		t.Errorf("table does not describe the open loop:\n%s", table.String())
	}
}

// --json gives one object holding the options, both servers' figures and
// the ratios.
func TestRunWriteJSON(t *testing.T) {
	t.Parallel()
	srv := startFakeGateway(t, &fakeGateway{failEvery: 25})
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 100, Concurrency: 4, PayloadBytes: 256, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("JSON output has %d lines, want 1", n)
	}
	var doc struct {
		Scenario string
		Gateway  string
		Options  struct {
			Load         string
			Events       int
			Concurrency  int
			PayloadBytes int  `json:"payload_bytes"`
			Baseline     bool `json:"baseline"`
		}
		Sluice, Baseline struct {
			Sent, Accepted, Errors int
			ErrorsByClass          map[string]int     `json:"errors_by_class"`
			AcceptedPerSec         float64            `json:"accepted_per_sec"`
			AckLatencyMS           map[string]float64 `json:"ack_latency_ms"`
			Delivered              *int
			DeliveredPerSec        *float64           `json:"delivered_per_sec"`
			E2ELatencyMS           map[string]float64 `json:"e2e_latency_ms"`
			Schedule               *json.RawMessage
			CPUMS                  *float64 `json:"cpu_ms"`
			CPUUSPerEvent          *float64 `json:"cpu_us_per_event"`
		}
		Ratios struct {
			AcceptedVsBaseline  *float64 `json:"accepted_vs_baseline"`
			DeliveredVsBaseline *float64 `json:"delivered_vs_baseline"`
		}
		PeakRSSScope string `json:"peak_rss_scope"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("decode %s: %v", buf.String(), err)
	}
	o, s, b := doc.Options, doc.Sluice, doc.Baseline
	if doc.Scenario != "e2e" || doc.Gateway != "remote" || o.Load != "closed" || o.Events != 100 || o.Concurrency != 4 ||
		o.PayloadBytes != 256 || !o.Baseline || doc.PeakRSSScope != "bench process only; gateway n/a" {
		t.Errorf("scenario and options: %s", buf.String())
	}
	if s.Sent != 100 || s.Accepted != 96 || s.Errors != 4 || s.ErrorsByClass["http_500"] != 4 || s.AcceptedPerSec <= 0 ||
		s.AckLatencyMS["p99"] <= 0 || s.Delivered == nil || *s.Delivered != 96 || s.DeliveredPerSec == nil ||
		s.E2ELatencyMS["max"] <= 0 || s.Schedule != nil {
		t.Errorf("sluice figures: %s", buf.String())
	}
	if b.Sent != 100 || b.Accepted != 100 || b.Errors != 0 || b.AcceptedPerSec <= 0 || b.AckLatencyMS["p50"] <= 0 ||
		b.Delivered != nil || b.E2ELatencyMS != nil {
		t.Errorf("baseline figures: %s", buf.String())
	}
	// Each phase's CPU time, shared among its delivered (Sluice) or
	// accepted (baseline) events, to within the rounding of both figures;
	// where processCPU cannot read it (not Unix), both are null.
	cpuKnown := processCPU() > 0
	for _, c := range []struct {
		name   string
		ms, us *float64
		events int
	}{{"sluice", s.CPUMS, s.CPUUSPerEvent, 96}, {"baseline", b.CPUMS, b.CPUUSPerEvent, 100}} {
		if !cpuKnown {
			if c.ms != nil || c.us != nil {
				t.Errorf("%s CPU given where it is unknown: %s", c.name, buf.String())
			}
			continue
		}
		if c.ms == nil || c.us == nil || *c.ms <= 0 {
			t.Errorf("%s CPU: %s", c.name, buf.String())
			continue
		}
		if diff := math.Abs(*c.us*float64(c.events) - *c.ms*1000); diff > float64(c.events)+1 {
			t.Errorf("%s: %v µs an event for %d events, but %v ms in all", c.name, *c.us, c.events, *c.ms)
		}
	}
	r := doc.Ratios
	if r.AcceptedVsBaseline == nil || *r.AcceptedVsBaseline <= 0 || r.DeliveredVsBaseline == nil || *r.DeliveredVsBaseline <= 0 {
		t.Errorf("ratios: %s", buf.String())
	}
	if want := s.AcceptedPerSec / b.AcceptedPerSec; r.AcceptedVsBaseline != nil && *r.AcceptedVsBaseline != want {
		t.Errorf("accepted ratio %v, want %v", *r.AcceptedVsBaseline, want)
	}
}

func TestRunReportsMissingDeliveries(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{dropEvery: 5, deliverFirst: true}
	srv := startFakeGateway(t, g)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 50, Concurrency: 4, Timeout: 200 * time.Millisecond, SkipBaseline: true,
	})
	if err == nil || !strings.Contains(err.Error(), "10 of 50 accepted events not delivered") {
		t.Fatalf("Run error = %v, want 10 of 50 missing", err)
	}
	if rep == nil || rep.Sluice.Accepted != 50 || rep.Sluice.Delivery.Delivered != 40 {
		t.Fatalf("report %+v, want 50 accepted and 40 delivered", rep)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "missing") {
		t.Errorf("table does not show missing deliveries:\n%s", table.String())
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{Concurrency: 4}, {Rate: 1e6, MaxInFlight: 8}} {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		g := &fakeGateway{onPublish: func(n int) {
			if n == 20 {
				cancel()
			}
		}}
		srv := startFakeGateway(t, g)
		o.URL, o.Token, o.Events, o.SkipBaseline, o.SkipForwarder = srv.URL, "tok", 100000, true, true
		rep, err := Run(ctx, o)
		if !errors.Is(err, context.Canceled) || rep != nil {
			t.Fatalf("rate %v: Run = %v, %v; want context.Canceled", o.Rate, rep, err)
		}
		g.mu.Lock()
		// An open loop has up to MaxInFlight requests under way when cancelled.
		if g.n > 100+o.MaxInFlight {
			t.Errorf("rate %v: %d events published after cancelling at 20", o.Rate, g.n)
		}
		if len(g.deleted) != 1 {
			t.Errorf("rate %v: deleted %v, want the bench destination deleted after cancelling", o.Rate, g.deleted)
		}
		g.mu.Unlock()
	}
}

func TestRunSetupErrors(t *testing.T) {
	t.Parallel()
	srv := startFakeGateway(t, &fakeGateway{})
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no URL", Options{Token: "tok"}, "base URL"},
		{"bad token", Options{URL: srv.URL, Token: "nope", Events: 1}, "create destination: HTTP 401 unauthorized: bad token"},
		{"negative events", Options{URL: srv.URL, Events: -1}, "negative"},
		{"unknown scenario", Options{URL: srv.URL, Scenario: "soak"}, `scenario "soak": want publish, ingest or e2e`},
		{"rate and concurrency", Options{URL: srv.URL, Rate: 100, Concurrency: 8}, "not both"},
		{"negative rate", Options{URL: srv.URL, Rate: -1}, "rate must be a positive"},
		{"endless schedule", Options{URL: srv.URL, Rate: 0.001, Events: 1000}, "longer than 24h"},
		{"huge payload", Options{URL: srv.URL, PayloadBytes: 1 << 30}, "payload bytes must be at most"},
		{"subjects profile alone", Options{URL: srv.URL, SubjectsCPUProfile: io.Discard}, "needs the subjects phase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Run(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || rep != nil {
				t.Fatalf("Run = %v, %v; want no report and an error containing %q", rep, err, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // answer only after the client gave up
	}))
	defer slow.Close()
	defer close(release)

	if _, class := newClient(closed, "", 1).send(context.Background(), "/v1/events", nil, []byte("{}")); class != "connect" {
		t.Errorf("closed port: class %q, want connect", class)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, class := newClient(slow.URL, "", 1).send(ctx, "/v1/events", nil, []byte("{}")); class != "timeout" {
		t.Errorf("slow server: class %q, want timeout", class)
	}
	if got := classify(fmt.Errorf("boom")); got != "other" {
		t.Errorf("classify(boom) = %q, want other", got)
	}
}

// lineWriter hands every write to a channel, so a test can wait for output.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

func TestProgressWritesLinesUntilStopped(t *testing.T) {
	t.Parallel()
	w := make(lineWriter)
	n := 0
	stop := startProgress(w, time.Millisecond, func() string {
		n++
		return fmt.Sprintf("published %d/10  delivered 0  errors 0", n)
	})
	for want := 1; want <= 2; want++ {
		select {
		case got := <-w:
			if wantLine := fmt.Sprintf("published %d/10  delivered 0  errors 0\n", want); got != wantLine {
				t.Fatalf("progress line %q, want %q", got, wantLine)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no progress line")
		}
	}
	go func() {
		for range w { // drain a tick racing with stop
		}
	}()
	stop()
	close(w)
	stopNil := startProgress(nil, time.Millisecond, func() string { panic("nil writer must not be called") })
	stopNil()
}
