package main_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
)

// benchJSON is the part of `sluice bench --json` these tests read.
type benchJSON struct {
	Scenario string `json:"scenario"`
	Options  struct {
		Load   string `json:"load"`
		Events int    `json:"events"`
	} `json:"options"`
	Sluice    benchResultJSON  `json:"sluice"`
	Baseline  *benchResultJSON `json:"baseline"`
	Forwarder *benchResultJSON `json:"forwarder"`
	Ratios    struct {
		AcceptedVsBaseline   *float64 `json:"accepted_vs_baseline"`
		DeliveredVsBaseline  *float64 `json:"delivered_vs_baseline"`
		AcceptedVsForwarder  *float64 `json:"accepted_vs_forwarder"`
		DeliveredVsForwarder *float64 `json:"delivered_vs_forwarder"`
	} `json:"ratios"`
}

type benchResultJSON struct {
	Sent            int                `json:"sent"`
	Accepted        int                `json:"accepted"`
	Errors          int                `json:"errors"`
	AcceptedPerSec  float64            `json:"accepted_per_sec"`
	AckLatencyMS    map[string]float64 `json:"ack_latency_ms"`
	Delivered       *int               `json:"delivered"`
	Strays          *int               `json:"strays"`
	DeliveredPerSec *float64           `json:"delivered_per_sec"`
	E2ELatencyMS    map[string]float64 `json:"e2e_latency_ms"`
}

// `sluice bench --json` runs each scenario against an in-process gateway,
// after the same load against the bare baseline and the forwarder, and
// prints one JSON object: every event accepted and, where the scenario
// awaits them, delivered, by Sluice and by the forwarder, with the
// baseline's figures and Sluice's ratios to the baseline and the forwarder.
func TestBenchScenariosJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, scenario string
		load           []string // the load's flags
		delivers       bool     // the scenario awaits deliveries
	}{
		{"publish", "publish", []string{"--concurrency", "8"}, false},
		{"ingest", "ingest", []string{"--concurrency", "8"}, true},
		{"e2e", "e2e", []string{"--concurrency", "8"}, true},
		{"e2e open loop", "e2e", []string{"--rate", "1000"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"bench", "--scenario", tt.scenario, "--events", "200", "--timeout", "60s", "--json"}, tt.load...)
			doc := runBenchJSON(t, args...)
			s, b := doc.Sluice, doc.Baseline
			wantLoad := "closed"
			if tt.load[0] == "--rate" {
				wantLoad = "open"
			}
			if doc.Scenario != tt.scenario || doc.Options.Load != wantLoad || doc.Options.Events != 200 {
				t.Errorf("scenario %q, load %q, events %d; want %q, %q, 200",
					doc.Scenario, doc.Options.Load, doc.Options.Events, tt.scenario, wantLoad)
			}
			if s.Sent != 200 || s.Accepted != 200 || s.Errors != 0 || s.AcceptedPerSec <= 0 || s.AckLatencyMS["p50"] <= 0 {
				t.Errorf("sluice: sent %d, accepted %d, errors %d, %v/s, ack %v; want 200 accepted, no errors",
					s.Sent, s.Accepted, s.Errors, s.AcceptedPerSec, s.AckLatencyMS)
			}
			if b == nil || b.Sent != 200 || b.Accepted != 200 || b.Errors != 0 || b.AcceptedPerSec <= 0 || b.AckLatencyMS["p99"] <= 0 {
				t.Errorf("baseline %+v, want 200 accepted, no errors", b)
			}
			f := doc.Forwarder
			if f == nil || f.Sent != 200 || f.Accepted != 200 || f.Errors != 0 || f.AcceptedPerSec <= 0 {
				t.Fatalf("forwarder %+v, want 200 accepted, no errors", f)
			}
			for name, r := range map[string]*float64{"accepted": doc.Ratios.AcceptedVsBaseline,
				"accepted vs forwarder": doc.Ratios.AcceptedVsForwarder} {
				if r == nil || *r <= 0 {
					t.Errorf("%s ratio %v, want a positive one", name, r)
				}
			}
			if !tt.delivers {
				if s.Delivered != nil || f.Delivered != nil || doc.Ratios.DeliveredVsBaseline != nil ||
					doc.Ratios.DeliveredVsForwarder != nil {
					t.Errorf("publish scenario reports deliveries: %v and %v, ratios %v and %v", s.Delivered, f.Delivered,
						doc.Ratios.DeliveredVsBaseline, doc.Ratios.DeliveredVsForwarder)
				}
				return
			}
			if f.Delivered == nil || *f.Delivered != 200 {
				t.Errorf("forwarder delivered %v, want all 200", f.Delivered)
			}
			if s.Delivered == nil || *s.Delivered != 200 || s.DeliveredPerSec == nil || *s.DeliveredPerSec <= 0 || s.E2ELatencyMS["max"] <= 0 {
				t.Errorf("delivered %v at %v/s, end to end %v; want all 200", s.Delivered, s.DeliveredPerSec, s.E2ELatencyMS)
			}
			for name, r := range map[string]*float64{"delivered": doc.Ratios.DeliveredVsBaseline,
				"delivered vs forwarder": doc.Ratios.DeliveredVsForwarder} {
				if r == nil || *r <= 0 {
					t.Errorf("%s ratio %v, want a positive one", name, r)
				}
			}
		})
	}
}

// runBenchJSON runs sluice with args and decodes its standard output, which
// must be exactly one JSON object.
func runBenchJSON(t *testing.T, args ...string) benchJSON {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = os.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice %v: %v\n%s", args, err, stderr.String())
	}
	var doc benchJSON
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode bench output: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Errorf("more than one JSON value on stdout:\n%s", stdout.String())
	}
	return doc
}

// Two `sluice bench --url` runs at once against one gateway each get every
// event they sent and none of the other's: each run's destination takes its
// own event type only. (Both once subscribed to bench.*, so every event went
// to both receivers and the gateway delivered twice the load.)
func TestBenchRunsShareAGateway(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	args := []string{"bench", "--url", p.url, "--token", token, "--events", "1000", "--concurrency", "8",
		"--baseline=false", "--forwarder=false", "--timeout", "60s", "--json"}
	var runs [2]struct {
		stdout, stderr bytes.Buffer
		err            error
	}
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			cmd := exec.Command(binary, args...)
			cmd.Stdout, cmd.Stderr = &runs[i].stdout, &runs[i].stderr
			runs[i].err = cmd.Run()
		})
	}
	wg.Wait()
	for i := range runs {
		if runs[i].err != nil {
			t.Fatalf("run %d: %v\n%s", i, runs[i].err, runs[i].stderr.String())
		}
		var doc benchJSON
		if err := json.Unmarshal(runs[i].stdout.Bytes(), &doc); err != nil {
			t.Fatalf("run %d: decode: %v\n%s", i, err, runs[i].stdout.String())
		}
		s := doc.Sluice
		if s.Accepted != 1000 || s.Delivered == nil || *s.Delivered != 1000 || s.Strays == nil || *s.Strays != 0 {
			t.Errorf("run %d: accepted %d, delivered %v, strays %v; want 1000, 1000, 0",
				i, s.Accepted, deref(s.Delivered), deref(s.Strays))
		}
	}
}

func deref(n *int) any {
	if n == nil {
		return nil
	}
	return *n
}

// `sluice bench --cpuprofile` writes a gzipped pprof profile of the run
// against Sluice.
func TestBenchCPUProfile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cpu.prof")
	doc := runBenchJSON(t, "bench", "--scenario", "publish", "--events", "200", "--concurrency", "8",
		"--baseline=false", "--json", "--cpuprofile", path)
	if doc.Sluice.Accepted != 200 {
		t.Errorf("accepted %d, want 200", doc.Sluice.Accepted)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("profile is not gzipped, as pprof writes it: %v", err)
	}
	if n, err := io.Copy(io.Discard, zr); err != nil || n == 0 {
		t.Errorf("profile: %d bytes, %v; want a non-empty profile", n, err)
	}
}
