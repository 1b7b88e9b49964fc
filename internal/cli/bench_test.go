package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
