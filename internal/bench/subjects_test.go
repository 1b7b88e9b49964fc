package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// subjectDomainPattern is the form of a run's subject domain.
var subjectDomainPattern = regexp.MustCompile(`^[a-z2-7]{8}\.bench\.example$`)

// checkSubjectsSent checks what the fake gateway saw over two phases of
// events each: none named a subject in the first, and each of the second
// named an address of its own under domain.
func checkSubjectsSent(t *testing.T, g *fakeGateway, events int, domain string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n != 2*events || g.unnamed != events || len(g.named) != events {
		t.Errorf("gateway saw %d events, %d naming no subject, %d addresses; want %d, %d and %d",
			g.n, g.unnamed, len(g.named), 2*events, events, events)
	}
	for _, n := range []int{1, events} {
		if addr := fmt.Sprintf("customer-%d@%s", n, domain); g.named[addr] != 1 {
			t.Errorf("%s named by %d events, want 1", addr, g.named[addr])
		}
	}
	for addr, times := range g.named {
		if times != 1 || !strings.HasSuffix(addr, "@"+domain) {
			t.Errorf("%s named by %d events, want 1 and the run's domain %s", addr, times, domain)
		}
	}
}

// With Subjects, Run sends the load a second time with an address in every
// payload and measures that phase on its own: its counts, duplicates and
// latencies are not the first phase's added up, and its rates are compared
// with the first phase's in the table and the JSON.
func TestRunSubjects(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{failEvery: 10, dupEvery: 7}
	srv := startFakeGateway(t, g)
	var profile, subjectsProfile bytes.Buffer
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 200, Concurrency: 8, PayloadBytes: 512, Timeout: 30 * time.Second,
		Subjects: true, CPUProfile: &profile, SubjectsCPUProfile: &subjectsProfile,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Baseline == nil || rep.Subjects == nil {
		t.Fatalf("baseline %+v, subjects %+v; want both measured", rep.Baseline, rep.Subjects)
	}
	if !subjectDomainPattern.MatchString(rep.SubjectDomain) {
		t.Errorf("subject domain %q, want eight base32 letters under bench.example", rep.SubjectDomain)
	}
	checkSubjectsSent(t, g, 200, rep.SubjectDomain)

	// The gateway numbers events across both phases: 1-200 in the first,
	// 201-400 in the second. Every 10th fails, and every 7th that does not
	// is delivered twice: 26 in each phase, not 52 in the second.
	for _, c := range []struct {
		name string
		res  *Result
		dups int
	}{{"sluice", rep.Sluice, 26}, {"subjects", rep.Subjects, 26}} {
		res, d := c.res, c.res.Delivery
		if res.Sent != 200 || res.Accepted != 180 || res.Errors != 20 || d == nil || d.Delivered != 180 || d.Duplicates != c.dups {
			t.Fatalf("%s: sent %d, accepted %d, errors %d, delivery %+v; want 200, 180, 20, 180 delivered, %d duplicates",
				c.name, res.Sent, res.Accepted, res.Errors, d, c.dups)
		}
		for name, p := range map[string]Percentiles{"ack": res.AckLatency, "e2e": d.Latency} {
			if p.P50 <= 0 || p.P50 > p.P95 || p.P95 > p.P99 || p.P99 > p.Max {
				t.Errorf("%s %s percentiles not ordered: %+v", c.name, name, p)
			}
		}
	}
	s, d := rep.Subjects, rep.Subjects.Delivery
	accepted, okA := rep.SubjectsAcceptedRatio()
	delivered, okD := rep.SubjectsDeliveredRatio()
	if !okA || accepted != s.AcceptedPerSec/rep.Sluice.AcceptedPerSec ||
		!okD || delivered != d.PerSec/rep.Sluice.Delivery.PerSec {
		t.Errorf("subjects ratios %v, %v and %v, %v; want the subjects phase's rates over the first's", accepted, okA, delivered, okD)
	}
	// A CPU profile is gzip-compressed: each phase wrote one of its own.
	for name, p := range map[string]*bytes.Buffer{"sluice": &profile, "subjects": &subjectsProfile} {
		if !bytes.HasPrefix(p.Bytes(), []byte{0x1f, 0x8b}) {
			t.Errorf("%s: no CPU profile (%d bytes)", name, p.Len())
		}
	}

	var table strings.Builder
	rep.WriteTable(&table)
	out := table.String()
	wantTable := []string{
		"subjects    sluice, an email in every payload (customer-<n>@" + rep.SubjectDomain + "), a new data subject an event",
		fmt.Sprintf("%s ev/s (%s without subjects)", formatRate(s.AcceptedPerSec), formatRatio(accepted)),
		fmt.Sprintf("%s ev/s end to end (%s without subjects)", formatRate(d.PerSec), formatRatio(delivered)),
		"subjects ack", "subjects end to end", formatDuration(d.Latency.P99), formatDuration(s.AckLatency.Max),
		"error class  baseline  forwarder  sluice  subjects", "http_500     0         0          20      20",
		"peak RSS    baseline ", ", subjects ",
	}
	if per, ok := s.CPUPerEvent(); ok {
		wantTable = append(wantTable, "subjects "+formatDuration(per)+" (")
	}
	for _, want := range wantTable {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)

	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Options struct {
			Subjects bool `json:"subjects"`
		}
		Subjects *struct {
			Sent, Accepted, Errors, Delivered, Duplicates int
			AcceptedPerSec                                float64            `json:"accepted_per_sec"`
			DeliveredPerSec                               float64            `json:"delivered_per_sec"`
			E2ELatencyMS                                  map[string]float64 `json:"e2e_latency_ms"`
		}
		SubjectDomain *string `json:"subject_domain"`
		Ratios        struct {
			SubjectsAcceptedVsSluice  *float64 `json:"subjects_accepted_vs_sluice"`
			SubjectsDeliveredVsSluice *float64 `json:"subjects_delivered_vs_sluice"`
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("decode %s: %v", buf.String(), err)
	}
	js, r := doc.Subjects, doc.Ratios
	if !doc.Options.Subjects || js == nil || js.Sent != 200 || js.Accepted != 180 || js.Errors != 20 ||
		js.Delivered != 180 || js.Duplicates != 26 || js.AcceptedPerSec != s.AcceptedPerSec ||
		js.DeliveredPerSec != d.PerSec || js.E2ELatencyMS["p99"] <= 0 ||
		doc.SubjectDomain == nil || *doc.SubjectDomain != rep.SubjectDomain ||
		r.SubjectsAcceptedVsSluice == nil || *r.SubjectsAcceptedVsSluice != accepted ||
		r.SubjectsDeliveredVsSluice == nil || *r.SubjectsDeliveredVsSluice != delivered {
		t.Errorf("subjects in JSON: %s", buf.String())
	}
}

// Without Subjects the report, the table and the JSON have no subjects
// phase, and the JSON says so with nulls.
func TestRunWithoutSubjects(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{}
	srv := startFakeGateway(t, g)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 40, Concurrency: 4, Timeout: 30 * time.Second, SkipBaseline: true,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	g.mu.Lock()
	if g.n != 40 || len(g.named) != 0 {
		t.Errorf("gateway saw %d events naming %d addresses, want 40 naming none", g.n, len(g.named))
	}
	g.mu.Unlock()
	if rep.Subjects != nil || rep.SubjectDomain != "" {
		t.Errorf("subjects phase %+v, domain %q; want none", rep.Subjects, rep.SubjectDomain)
	}
	if _, ok := rep.SubjectsAcceptedRatio(); ok {
		t.Error("a subjects ratio without a subjects phase")
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if strings.Contains(table.String(), "subjects") {
		t.Errorf("table mentions subjects:\n%s", table.String())
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"subjects":false`, `"subjects":null`, `"subject_domain":null`,
		`"subjects_accepted_vs_sluice":null`, `"subjects_delivered_vs_sluice":null`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON lacks %s: %s", want, buf.String())
		}
	}
}

// The subjects phase runs in the ingest scenario, with ids the gateway does
// not take for retries of the first phase's, and in the publish scenario,
// where neither phase awaits its deliveries.
func TestRunSubjectsScenarios(t *testing.T) {
	t.Parallel()
	for _, sc := range []Scenario{ScenarioIngest, ScenarioPublish} {
		t.Run(string(sc), func(t *testing.T) {
			t.Parallel()
			g := &fakeGateway{}
			srv := startFakeGateway(t, g)
			rep, err := Run(context.Background(), Options{
				URL: srv.URL, Token: "tok", Scenario: sc, Events: 60, Concurrency: 4, PayloadBytes: 400,
				Timeout: 30 * time.Second, SkipBaseline: true, Subjects: true,
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkSubjectsSent(t, g, 60, rep.SubjectDomain)
			s := rep.Subjects
			if s == nil || s.Sent != 60 || s.Accepted != 60 || s.Errors != 0 {
				t.Fatalf("subjects phase %+v, want 60 sent and accepted", s)
			}
			if _, ok := rep.SubjectsAcceptedRatio(); !ok {
				t.Error("no accepted ratio to the first phase")
			}
			_, okD := rep.SubjectsDeliveredRatio()
			if sc.awaitsDelivery() != (s.Delivery != nil) || sc.awaitsDelivery() != okD {
				t.Errorf("delivery %+v, delivered ratio given %v; want both only where deliveries are awaited", s.Delivery, okD)
			}
			if d := s.Delivery; d != nil && d.Delivered != 60 {
				t.Errorf("delivered %d, want 60", d.Delivered)
			}
		})
	}
}

// In the publish scenario the first phase does not wait for its
// deliveries, but the subjects phase waits for them before it starts, so
// as not to share the cores with them; when they do not all come in time
// it does not run.
func TestRunSubjectsWaitsForTheFirstPhasesDeliveries(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{dropEvery: 5, deliverFirst: true}
	srv := startFakeGateway(t, g)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Scenario: ScenarioPublish, Events: 50, Concurrency: 4,
		Timeout: 200 * time.Millisecond, SkipBaseline: true, Subjects: true,
	})
	if err == nil || !strings.Contains(err.Error(), "10 of 50 accepted events not delivered within 200ms; the subjects phase did not run") {
		t.Fatalf("Run error = %v, want 10 of 50 missing and no subjects phase", err)
	}
	if rep == nil || rep.Sluice.Accepted != 50 || rep.Subjects != nil {
		t.Fatalf("report %+v, want the first phase's 50 accepted and no subjects phase", rep)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n != 50 {
		t.Errorf("gateway saw %d events, want the first phase's 50 only", g.n)
	}
}

// Deliveries missing from the subjects phase are reported as such, with
// what both phases measured.
func TestRunSubjectsReportsMissingDeliveries(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{dropFrom: 41} // the first phase's 40 arrive, the second's don't
	srv := startFakeGateway(t, g)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Token: "tok", Events: 40, Concurrency: 4, Timeout: 200 * time.Millisecond,
		SkipBaseline: true, Subjects: true,
	})
	if err == nil || !strings.Contains(err.Error(), "with subjects: 40 of 40 accepted events not delivered within 200ms") {
		t.Fatalf("Run error = %v, want the subjects phase's 40 missing", err)
	}
	if rep == nil || rep.Sluice.Delivery.Delivered != 40 || rep.Subjects == nil || rep.Subjects.Accepted != 40 ||
		rep.Subjects.Delivery.Delivered != 0 {
		t.Fatalf("report %+v, want 40 delivered in the first phase and 40 accepted, none delivered, in the second", rep)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "missing     40") {
		t.Errorf("table does not show the subjects phase's missing deliveries:\n%s", table.String())
	}
}
