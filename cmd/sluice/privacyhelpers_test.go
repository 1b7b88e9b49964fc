package main_test

// Helpers for the privacy tests: a delivery sink, byte scans of the data
// directory, polling with deadlines and one-shot commands.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// sink is a loopback webhook endpoint that verifies every delivery with the
// Standard Webhooks library and keeps the bodies it accepted. With
// failFirst it answers the first try of each message with a 500.
type sink struct {
	t         *testing.T
	srv       *httptest.Server
	failFirst bool

	mu      sync.Mutex
	verify  *standardwebhooks.Webhook
	tries   map[string]int    // webhook-id → requests
	bodies  map[string][]byte // webhook-id → the body accepted
	changed chan struct{}     // closed and replaced on every request
}

func newSink(t *testing.T, failFirst bool) *sink {
	s := &sink{t: t, failFirst: failFirst, tries: make(map[string]int), bodies: make(map[string][]byte),
		changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verify == nil || s.verify.Verify(body, r.Header) != nil {
		s.t.Errorf("delivery %s does not verify", id)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.tries[id]++
	close(s.changed)
	s.changed = make(chan struct{})
	if s.failFirst && s.tries[id] == 1 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s.bodies[id] = body
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) setSecret(secret string) {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.verify = v
	s.mu.Unlock()
}

// waitFor waits until every id was accepted and returns the bodies.
func (s *sink) waitFor(t *testing.T, ids []string, timeout time.Duration) map[string][]byte {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		out := make(map[string][]byte, len(ids))
		for _, id := range ids {
			if b, ok := s.bodies[id]; ok {
				out[id] = b
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(out) == len(ids) {
			return out
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("only %d of %d events delivered within %s", len(out), len(ids), timeout)
		}
	}
}

// randomHex is n random bytes in hex: unique markers.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newMasterKey is a master key as SLUICE_MASTER_KEY takes it.
func newMasterKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// newWhsec is a Standard Webhooks secret and its raw key.
func newWhsec() (secret string, key []byte) {
	key = make([]byte, 32)
	_, _ = rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key
}

// needle is a value that must not be found; fold matches it in any ASCII
// case (text), otherwise byte for byte (raw keys).
type needle struct {
	name  string
	value []byte
	fold  bool
}

func textNeedle(name, value string) needle {
	return needle{name: name, value: []byte(value), fold: true}
}

// foldASCII lower-cases ASCII letters and leaves every other byte alone, so
// a binary file keeps its length and offsets.
func foldASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// findIn returns the names of the needles data contains.
func findIn(data []byte, needles []needle) []string {
	folded := foldASCII(data)
	var found []string
	for _, n := range needles {
		if n.fold && bytes.Contains(folded, foldASCII(n.value)) || !n.fold && bytes.Contains(data, n.value) {
			found = append(found, n.name)
		}
	}
	return found
}

// readDataDir reads every regular file under dir, by path relative to dir.
// Files may vanish while a live process checkpoints its WAL.
func readDataDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = data
		return nil
	})
	if err != nil {
		t.Fatalf("read data dir: %v", err)
	}
	return files
}

// scanDataDir fails the test for every needle found in any file under dir
// and returns the files it read.
func scanDataDir(t *testing.T, dir, when string, needles []needle) map[string][]byte {
	t.Helper()
	files := readDataDir(t, dir)
	if len(files) == 0 {
		t.Fatalf("%s: no files in the data dir", when)
	}
	for name, data := range files {
		for _, found := range findIn(data, needles) {
			t.Errorf("%s: %s (%d bytes) contains %s", when, name, len(data), found)
		}
	}
	return files
}

// stopSluice sends SIGTERM and expects a clean exit.
func stopSluice(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.log())
	}
}

// runSluice runs a sluice command to its end with env added, and returns
// its exit code, stdout and stderr.
func runSluice(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("sluice %v did not exit\n%s%s", args, stdout.String(), stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("sluice %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// serveMustFail runs `sluice serve` on dataDir and expects it to refuse to
// start; it returns everything it printed.
func serveMustFail(t *testing.T, dataDir string, env ...string) string {
	t.Helper()
	env = append([]string{"SLUICE_ALLOW_PRIVATE_DESTINATIONS=true"}, env...)
	code, stdout, stderr := runSluice(t, env, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code == 0 {
		t.Fatalf("sluice serve exited 0, want a refusal\n%s%s", stdout, stderr)
	}
	return stdout + stderr
}

// eventView is GET /v1/events/{id}.
type eventView struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Direction    string          `json:"direction"`
	Status       string          `json:"status"`
	PayloadState string          `json:"payload_state"`
	Payload      json.RawMessage `json:"payload"`
	PayloadError string          `json:"payload_error"`
}

func getEvent(t *testing.T, p *proc, token, id string) eventView {
	t.Helper()
	var ev eventView
	if code := call(t, "GET", p.url+"/v1/events/"+id, token, nil, &ev); code != http.StatusOK {
		t.Fatalf("GET event %s: %d", id, code)
	}
	return ev
}

// publish posts an event and returns its id.
func publish(t *testing.T, p *proc, token string, body map[string]any) string {
	t.Helper()
	var res struct{ ID string }
	if code := call(t, "POST", p.url+"/v1/events", token, body, &res); code != http.StatusAccepted || res.ID == "" {
		t.Fatalf("publish: %d %+v", code, res)
	}
	return res.ID
}

// postRaw posts body to url with the headers given and returns the status
// and the answer.
func postRaw(t *testing.T, url string, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

// ingest posts body to a source's ingest URL and returns the event id of a
// 202.
func ingest(t *testing.T, url string, body []byte, header http.Header) string {
	t.Helper()
	code, answer := postRaw(t, url, body, header)
	var res struct {
		EventID string `json:"event_id"`
	}
	if code != http.StatusAccepted || json.Unmarshal(answer, &res) != nil || res.EventID == "" {
		t.Fatalf("ingest: %d %s", code, answer)
	}
	return res.EventID
}

// signedHeaders signs body for a standard-webhooks source with the
// reference library.
func signedHeaders(t *testing.T, secret, msgID string, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(msgID, now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}
