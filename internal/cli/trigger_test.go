package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Every sample is listed and has a payload, a JSON object that names no
// one real: every email address is at example.com.
func TestSamples(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(samplesFS, "samples/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(samples) {
		t.Errorf("%d sample files, %d samples listed", len(files), len(samples))
	}
	email := regexp.MustCompile(`[A-Za-z0-9._%+-]+@([A-Za-z0-9.-]+)`)
	for _, s := range samples {
		b, ok := samplePayload(s.name)
		if !ok {
			t.Errorf("%s: no payload", s.name)
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil || len(v) == 0 {
			t.Errorf("%s: not a JSON object: %v", s.name, err)
		}
		for _, m := range email.FindAllSubmatch(b, -1) {
			if string(m[1]) != "example.com" {
				t.Errorf("%s: address %s is not at example.com", s.name, m[0])
			}
		}
	}
	var out bytes.Buffer
	if err := Trigger(context.Background(), []string{"--list"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if !strings.Contains(out.String(), s.name+"  ") {
			t.Errorf("--list does not show %s:\n%s", s.name, out.String())
		}
	}
}

// trigger publishes the sample through the API with the token given, and
// prints the id; a refused token is an error naming --token.
func TestTriggerPublishes(t *testing.T) {
	t.Parallel()
	srv, _ := startTestServer(t, nil, defaultTimeouts)
	var stdout, stderr bytes.Buffer
	if err := Trigger(context.Background(), []string{"order.paid", "--url", srv.URL(), "--token", testToken}, &stdout, &stderr); err != nil {
		t.Fatalf("trigger: %v\n%s", err, stderr.String())
	}
	id := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(id, "evt_") || !strings.Contains(stderr.String(), srv.URL()+"/ui/events/"+id) {
		t.Fatalf("stdout %q, stderr %q: want the event id and its dashboard page", stdout.String(), stderr.String())
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/v1/events/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ev struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.NewDecoder(res.Body).Decode(&ev); err != nil {
		t.Fatal(err)
	}
	want, _ := samplePayload("order.paid")
	var got, wantV any
	json.Unmarshal(ev.Payload, &got)
	json.Unmarshal(want, &wantV)
	if ev.Type != "order.paid" || !jsonEqual(got, wantV) {
		t.Errorf("stored event %s %s, want order.paid with the sample's payload", ev.Type, ev.Payload)
	}

	err = Trigger(context.Background(), []string{"order.paid", "--url", srv.URL(), "--token", "sk_wrong"}, io.Discard, io.Discard)
	var ue *usageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "--token") {
		t.Errorf("a wrong token: %v, want an error naming 401 and --token", err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// Without a token, TYPE or a known TYPE, trigger is a usage error and
// posts nothing.
func TestTriggerUsageErrors(t *testing.T) {
	t.Setenv("SLUICE_ADMIN_TOKEN", "")
	t.Setenv("SLUICE_URL", "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "name a sample event TYPE"},
		{[]string{"order.paid", "github.push"}, "name one TYPE"},
		{[]string{"order.unpaid"}, `no sample event "order.unpaid"`},
		{[]string{"order.paid"}, "--token (or SLUICE_ADMIN_TOKEN) is required"},
		{[]string{"order.paid", "--token", testToken, "--url", "localhost:8080"}, "--url must be an http or https URL"},
		{[]string{"--list", "order.paid"}, "--list takes no TYPE"},
	} {
		err := Trigger(context.Background(), tt.args, io.Discard, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("trigger %q: %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
}
