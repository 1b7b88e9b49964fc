package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestParseBenchFlagsSubjects(t *testing.T) {
	t.Parallel()
	f, err := parseBenchFlags([]string{"--subjects", "--subjects-cpuprofile", "s.prof", "--cpuprofile", "c.prof"}, io.Discard)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if !f.options.Subjects || f.subjectsCPUProfile != "s.prof" || f.cpuProfile != "c.prof" {
		t.Errorf("subjects %v, profiles %q and %q; want true, s.prof and c.prof", f.options.Subjects, f.subjectsCPUProfile, f.cpuProfile)
	}
	if f, err := parseBenchFlags(nil, io.Discard); err != nil || f.options.Subjects {
		t.Errorf("no flags: subjects %v, %v; want off", f.options.Subjects, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--subjects-cpuprofile", "s.prof"}, "give --subjects too"},
		{[]string{"--subjects", "--subjects-cpuprofile", "x.prof", "--cpuprofile", "x.prof"}, "different files"},
	} {
		if _, err := parseBenchFlags(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

// Against a real gateway with default settings, `sluice bench --subjects`
// makes every event of its second phase name a data subject: the gateway's
// finder indexes the address in each payload, published or ingested, and
// the subject's export finds its one event.
func TestBenchSubjectsAreIndexed(t *testing.T) {
	t.Parallel()
	for _, scenario := range []string{"e2e", "ingest"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			srv, _ := startTestServer(t, map[string]string{"SLUICE_ALLOW_PRIVATE_DESTINATIONS": "true"}, defaultTimeouts)
			var stdout bytes.Buffer
			err := Bench(context.Background(), []string{"--url", srv.URL(), "--token", testToken, "--scenario", scenario,
				"--events", "30", "--baseline=false", "--subjects", "--json"}, &stdout, io.Discard)
			if err != nil {
				t.Fatalf("bench: %v", err)
			}
			var rep struct {
				Subjects *struct {
					Accepted  int
					Delivered *int
				}
				SubjectDomain string `json:"subject_domain"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("decode %s: %v", stdout.String(), err)
			}
			if s := rep.Subjects; s == nil || s.Accepted != 30 || s.Delivered == nil || *s.Delivered != 30 {
				t.Fatalf("subjects phase: %s", stdout.String())
			}
			for _, n := range []int{1, 17, 30} {
				addr := fmt.Sprintf("customer-%d@%s", n, rep.SubjectDomain)
				got := exportSubject(t, srv, addr)
				if len(got) != 1 || !bytes.Contains(got[0], []byte(`"email":"`+addr+`"`)) {
					t.Errorf("export of %s: %d payloads %q, want the one naming it", addr, len(got), got)
				}
			}
		})
	}
}

// Against a real gateway, `sluice bench` prints a forwarder row and
// Sluice's rates as shares of the forwarder's, in the table and in the
// JSON; --forwarder=false leaves both out.
func TestBenchForwarderRow(t *testing.T) {
	t.Parallel()
	srv, _ := startTestServer(t, map[string]string{"SLUICE_ALLOW_PRIVATE_DESTINATIONS": "true"}, defaultTimeouts)
	bench := func(t *testing.T, extra ...string) string {
		t.Helper()
		var stdout bytes.Buffer
		args := append([]string{"--url", srv.URL(), "--token", testToken, "--events", "40", "--concurrency", "8"}, extra...)
		if err := Bench(context.Background(), args, &stdout, io.Discard); err != nil {
			t.Fatalf("bench %v: %v", extra, err)
		}
		return stdout.String()
	}
	// The runs share the gateway, one after the other.
	t.Run("table", func(t *testing.T) {
		out := bench(t)
		for _, re := range []string{
			`(?m)^forwarder   keeps nothing: answers at once, 64 workers deliver over keep-alive net/http; same requests$`,
			`(?m)^accepted    40  [\d,]+ ev/s \([\d.]+× baseline [\d,]+\)$`, // the forwarder's
			`(?m)^accepted    40  [\d,]+ ev/s \([\d.]+× baseline [\d,]+; [\d.]+× forwarder [\d,]+\)$`,
			`(?m)^delivered   40  [\d,]+ ev/s end to end \([\d.]+× baseline [\d,]+; [\d.]+× forwarder [\d,]+\), last after`,
			`(?m)^latency .*  p50 vs forwarder$`,
			`(?m)^forwarder end to end  .*$`,
			`(?m)^end to end  .*  [\d.]+×$`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("table does not match %s:\n%s", re, out)
			}
		}
		if out := bench(t, "--forwarder=false"); strings.Contains(out, "forwarder") {
			t.Errorf("--forwarder=false table mentions the forwarder:\n%s", out)
		}
	})
	t.Run("json", func(t *testing.T) {
		type result struct {
			Accepted        int
			AcceptedPerSec  float64  `json:"accepted_per_sec"`
			DeliveredPerSec *float64 `json:"delivered_per_sec"`
		}
		var doc struct {
			Options struct {
				Forwarder bool
			}
			Sluice    result
			Forwarder *result
			Ratios    struct {
				AcceptedVsForwarder  *float64 `json:"accepted_vs_forwarder"`
				DeliveredVsForwarder *float64 `json:"delivered_vs_forwarder"`
				E2EP50VsForwarder    *float64 `json:"e2e_p50_vs_forwarder"`
			}
		}
		out := bench(t, "--json")
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("decode %s: %v", out, err)
		}
		f, r := doc.Forwarder, doc.Ratios
		if !doc.Options.Forwarder || f == nil || f.Accepted != 40 || f.DeliveredPerSec == nil {
			t.Fatalf("forwarder: %s", out)
		}
		if r.AcceptedVsForwarder == nil || *r.AcceptedVsForwarder != doc.Sluice.AcceptedPerSec/f.AcceptedPerSec ||
			r.DeliveredVsForwarder == nil || *r.DeliveredVsForwarder != *doc.Sluice.DeliveredPerSec / *f.DeliveredPerSec ||
			r.E2EP50VsForwarder == nil || *r.E2EP50VsForwarder <= 0 {
			t.Errorf("ratios to the forwarder: %s", out)
		}
		out = bench(t, "--json", "--forwarder=false")
		for _, want := range []string{`"forwarder":false`, `"forwarder":null`, `"accepted_vs_forwarder":null`, `"delivered_vs_forwarder":null`} {
			if !strings.Contains(out, want) {
				t.Errorf("--forwarder=false JSON lacks %s: %s", want, out)
			}
		}
	})
}

// exportSubject returns the payloads GET /v1/subjects/export finds for an
// email address.
func exportSubject(t *testing.T, srv *Server, addr string) []json.RawMessage {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+"/v1/subjects/export?type=email&value="+url.QueryEscape(addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []struct {
			Payload json.RawMessage `json:"payload"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("export: status %d, %v", resp.StatusCode, err)
	}
	payloads := make([]json.RawMessage, len(out.Data))
	for i, d := range out.Data {
		payloads[i] = d.Payload
	}
	return payloads
}
