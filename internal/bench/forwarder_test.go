package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Every run measures the forwarder between the baseline and Sluice, with
// the same load, and reads Sluice's rates and median latencies against
// it, in the table and in the JSON.
func TestRunForwarderRow(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{}
	srv := startFakeGateway(t, g)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 150, Concurrency: 8, PayloadBytes: 300, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The fake gateway numbers every event it sees: the forwarder's went
	// elsewhere.
	g.mu.Lock()
	if g.n != 150 {
		t.Errorf("gateway saw %d events, want 150", g.n)
	}
	g.mu.Unlock()
	f, s := rep.Forwarder, rep.Sluice
	if f == nil || f.Sent != 150 || f.Accepted != 150 || f.Errors != 0 || f.AcceptedPerSec <= 0 ||
		f.Delivery == nil || f.Delivery.Delivered != 150 || f.Delivery.Duplicates != 0 || f.Delivery.PerSec <= 0 {
		t.Fatalf("forwarder %+v, want 150 accepted and delivered once each", f)
	}
	if s.Delivery == nil || s.Delivery.Delivered != 150 {
		t.Fatalf("sluice delivery %+v, want 150 delivered: the forwarder's arrivals must not count", s.Delivery)
	}
	for _, c := range []struct {
		name  string
		ratio func() (float64, bool)
		want  float64
	}{
		{"accepted vs forwarder", rep.AcceptedVsForwarder, s.AcceptedPerSec / f.AcceptedPerSec},
		{"delivered vs forwarder", rep.DeliveredVsForwarder, s.Delivery.PerSec / f.Delivery.PerSec},
		{"ack p50 vs forwarder", rep.AckP50VsForwarder, float64(s.AckLatency.P50) / float64(f.AckLatency.P50)},
		{"e2e p50 vs forwarder", rep.E2EP50VsForwarder,
			float64(s.Delivery.Latency.P50) / float64(f.Delivery.Latency.P50)},
		{"forwarder accepted vs baseline", rep.ForwarderAcceptedRatio, f.AcceptedPerSec / rep.Baseline.AcceptedPerSec},
		{"forwarder delivered vs baseline", rep.ForwarderDeliveredRatio, f.Delivery.PerSec / rep.Baseline.AcceptedPerSec},
	} {
		if x, ok := c.ratio(); !ok || x != c.want || x <= 0 {
			t.Errorf("%s = %v, %v; want %v", c.name, x, ok, c.want)
		}
	}

	var table strings.Builder
	rep.WriteTable(&table)
	out := table.String()
	accepted, _ := rep.AcceptedVsForwarder()
	delivered, _ := rep.DeliveredVsForwarder()
	fwAccepted, _ := rep.ForwarderAcceptedRatio()
	ackP50, _ := rep.AckP50VsForwarder()
	e2eP50, _ := rep.E2EP50VsForwarder()
	for _, want := range []string{
		"forwarder   keeps nothing: answers at once, 64 workers deliver over keep-alive net/http; same requests",
		fmt.Sprintf("%s ev/s (%s baseline %s)", formatRate(f.AcceptedPerSec), formatRatio(fwAccepted),
			formatRate(rep.Baseline.AcceptedPerSec)),
		fmt.Sprintf("; %s forwarder %s)", formatRatio(accepted), formatRate(f.AcceptedPerSec)),
		fmt.Sprintf("; %s forwarder %s), last after", formatRatio(delivered), formatRate(f.Delivery.PerSec)),
		"p50 vs forwarder", "forwarder ack", "forwarder end to end",
		formatRatio(ackP50) + "\n", formatRatio(e2eP50) + "\n",
		"peak RSS    baseline ", ", forwarder ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The forwarder comes between the baseline and Sluice, as it ran.
	if b, fw, sl := strings.Index(out, "\nbaseline "), strings.Index(out, "\nforwarder "), strings.Index(out, "\nsluice "); !(b < fw && fw < sl) {
		t.Errorf("sections out of order (baseline at %d, forwarder at %d, sluice at %d):\n%s", b, fw, sl, out)
	}
	t.Logf("\n%s", out)

	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Options struct {
			Forwarder bool
		}
		Forwarder *struct {
			Accepted        int
			Delivered       *int
			AcceptedPerSec  float64  `json:"accepted_per_sec"`
			DeliveredPerSec *float64 `json:"delivered_per_sec"`
		}
		Ratios map[string]*float64
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("decode %s: %v", buf.String(), err)
	}
	if !doc.Options.Forwarder || doc.Forwarder == nil || doc.Forwarder.Accepted != 150 || doc.Forwarder.Delivered == nil ||
		*doc.Forwarder.Delivered != 150 || doc.Forwarder.AcceptedPerSec != f.AcceptedPerSec ||
		doc.Forwarder.DeliveredPerSec == nil || *doc.Forwarder.DeliveredPerSec != f.Delivery.PerSec {
		t.Errorf("forwarder in JSON: %s", buf.String())
	}
	for name, want := range map[string]float64{
		"accepted_vs_forwarder": accepted, "delivered_vs_forwarder": delivered,
		"ack_p50_vs_forwarder": ackP50, "e2e_p50_vs_forwarder": e2eP50,
		"forwarder_accepted_vs_baseline": fwAccepted,
	} {
		if got := doc.Ratios[name]; got == nil || *got != want {
			t.Errorf("ratios.%s = %v, want %v: %s", name, got, want, buf.String())
		}
	}
	// What existed before the forwarder keeps its name.
	for _, name := range []string{"accepted_vs_baseline", "delivered_vs_baseline"} {
		if doc.Ratios[name] == nil {
			t.Errorf("ratios.%s missing: %s", name, buf.String())
		}
	}
}

// SkipForwarder leaves the forwarder out: no phase, no row, no ratios,
// and null in the JSON.
func TestRunWithoutForwarder(t *testing.T) {
	t.Parallel()
	srv := startFakeGateway(t, &fakeGateway{})
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 40, Concurrency: 4, Timeout: 30 * time.Second, SkipForwarder: true,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Forwarder != nil {
		t.Fatalf("forwarder measured although skipped: %+v", rep.Forwarder)
	}
	for name, ratio := range map[string]func() (float64, bool){
		"accepted": rep.AcceptedVsForwarder, "delivered": rep.DeliveredVsForwarder,
		"ack p50": rep.AckP50VsForwarder, "e2e p50": rep.E2EP50VsForwarder,
	} {
		if _, ok := ratio(); ok {
			t.Errorf("%s ratio to a forwarder that was skipped", name)
		}
	}
	if _, ok := rep.AcceptedRatio(); !ok {
		t.Error("no accepted ratio to the baseline, which ran")
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if strings.Contains(table.String(), "forwarder") {
		t.Errorf("table mentions a forwarder that was skipped:\n%s", table.String())
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"forwarder":false`, `"forwarder":null`, `"accepted_vs_forwarder":null`,
		`"delivered_vs_forwarder":null`, `"ack_p50_vs_forwarder":null`, `"e2e_p50_vs_forwarder":null`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON lacks %s: %s", want, buf.String())
		}
	}
}

// In the publish scenario the forwarder's deliveries are not measured, as
// Sluice's are not, but they have all arrived before the forwarder phase
// ends: none may compete with Sluice's phase.
func TestRunForwarderPublishLetsDeliveriesArrive(t *testing.T) {
	t.Parallel()
	o, err := Options{URL: "http://127.0.0.1:1", Scenario: ScenarioPublish, Events: 200, Concurrency: 8}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	first := newTracker(o.Events)
	rcv, err := startReceiver(o.ReceiverAddr, first)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.close()
	res, err := runForwarder(context.Background(), o, newPublishWorkload("tok", runEventType("a"), 256), rcv)
	if err != nil {
		t.Fatalf("runForwarder: %v", err)
	}
	if res.Accepted != 200 || res.Delivery != nil {
		t.Errorf("accepted %d, delivery %+v; want 200 and no delivery figures", res.Accepted, res.Delivery)
	}
	if tr := rcv.tr.Load(); tr == first || tr.arrivals() != 200 {
		t.Errorf("the forwarder's tracker saw %d arrivals (its own tracker: %v); want all 200 before it returned",
			tr.arrivals(), tr != first)
	}
	if first.arrivals() != 0 {
		t.Errorf("the tracker before the forwarder's got %d arrivals, want none", first.arrivals())
	}
}

// A forwarder whose deliveries do not arrive fails the run: a ceiling
// that carries less than every event is no ceiling.
func TestRunForwarderMissingDeliveries(t *testing.T) {
	t.Parallel()
	for _, sc := range []Scenario{ScenarioE2E, ScenarioPublish} {
		t.Run(string(sc), func(t *testing.T) {
			t.Parallel()
			o, err := Options{URL: "http://127.0.0.1:1", Scenario: sc, Events: 20, Concurrency: 4,
				Timeout: 200 * time.Millisecond}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			rcv, err := startReceiver(o.ReceiverAddr, newTracker(o.Events))
			if err != nil {
				t.Fatal(err)
			}
			rcv.close() // every delivery is refused
			res, err := runForwarder(context.Background(), o, newPublishWorkload("tok", runEventType("a"), 256), rcv)
			if want := "forwarder: 20 of 20 accepted events not delivered within 200ms"; err == nil ||
				!strings.Contains(err.Error(), want) || res != nil {
				t.Fatalf("runForwarder = %+v, %v; want no result and %q", res, err, want)
			}
		})
	}
}
