package main_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v75/github"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/sluicehq/sluice"
)

// capture is a loopback endpoint that keeps the one request it gets.
func capture(t *testing.T) (url string, got func() (http.Header, []byte)) {
	t.Helper()
	reqs := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		reqs <- r
		bodies <- body
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/in/src_test", func() (http.Header, []byte) {
		select {
		case r := <-reqs:
			return r.Header, <-bodies
		default:
			t.Fatal("sluice send sent nothing")
			return nil, nil
		}
	}
}

// runSend runs `sluice send` with args and the body file, and returns its
// exit code and output.
func runSend(t *testing.T, body []byte, args ...string) (int, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, append(append([]string{"send"}, args...), file)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String()
}

// What `sluice send --provider github` posts passes go-github's signature
// check and carries the event type and a delivery id where GitHub does.
func TestSendGitHubValidatesWithGoGitHub(t *testing.T) {
	t.Parallel()
	url, got := capture(t)
	body := []byte(`{"action":"opened","pull_request":{"number":1}}`)
	if code, out := runSend(t, body, "--source-url", url, "--provider", "github", "--secret", "gh-s3cret",
		"--event-type", "pull_request"); code != 0 {
		t.Fatalf("sluice send exited %d: %s", code, out)
	}
	h, sent := got()
	if !bytes.Equal(sent, body) {
		t.Fatalf("sent %q, want the file's bytes", sent)
	}
	if err := github.ValidateSignature(h.Get(github.SHA256SignatureHeader), sent, []byte("gh-s3cret")); err != nil {
		t.Errorf("go-github rejects the signature: %v", err)
	}
	if err := github.ValidateSignature(h.Get(github.SHA256SignatureHeader), sent, []byte("other")); err == nil {
		t.Error("go-github accepts the signature under another secret")
	}
	if github.WebHookType(&http.Request{Header: h}) != "pull_request" || github.DeliveryID(&http.Request{Header: h}) == "" {
		t.Errorf("headers %v lack the event type or delivery id", h)
	}
}

// What `sluice send --provider stripe` posts passes stripe-go's check.
func TestSendStripeValidatesWithStripeGo(t *testing.T) {
	t.Parallel()
	url, got := capture(t)
	body := []byte(`{"id":"evt_1","type":"charge.succeeded"}`)
	if code, out := runSend(t, body, "--source-url", url, "--provider", "stripe", "--secret", "whsec_stripe"); code != 0 {
		t.Fatalf("sluice send exited %d: %s", code, out)
	}
	h, sent := got()
	if err := webhook.ValidatePayload(sent, h.Get("Stripe-Signature"), "whsec_stripe"); err != nil {
		t.Errorf("stripe-go rejects the signature: %v", err)
	}
}

// `sluice send` into a real Sluice source: accepted with the right secret,
// 401 and a failing exit with the wrong one.
func TestSendIntoSluice(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	var src struct {
		IngestURL string `json:"ingest_url"`
	}
	if code := call(t, "POST", p.url+"/v1/sources", token, map[string]any{
		"verification": map[string]string{"type": "shopify", "secret": "shp-s3cret"}}, &src); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}
	body := []byte(`{"id":820982911946154508,"email":"ada@example.com"}`)
	code, out := runSend(t, body, "--source-url", src.IngestURL, "--provider", "shopify", "--secret", "shp-s3cret",
		"--event-type", "orders/create")
	if code != 0 || !strings.Contains(out, "202") || !strings.Contains(out, "evt_") {
		t.Fatalf("send with the right secret: exit %d, %s", code, out)
	}
	code, out = runSend(t, body, "--source-url", src.IngestURL, "--provider", "shopify", "--secret", "wrong")
	if code != 1 || !strings.Contains(out, "401") {
		t.Fatalf("send with a wrong secret: exit %d, %s", code, out)
	}
	var events struct{ Data []struct{ Type string } }
	call(t, "GET", p.url+"/v1/events", token, nil, &events)
	if len(events.Data) != 1 || events.Data[0].Type != "orders/create" {
		t.Errorf("events %+v, want one orders/create", events.Data)
	}
	if strings.Contains(p.log(), "ada@example.com") || strings.Contains(p.log(), "shp-s3cret") {
		t.Error("the log shows the payload or the secret")
	}
}

// `sluice send` takes its flags before or after the file, reads standard
// input for "-", and refuses a missing or empty body with a usage error
// before it sends anything.
func TestSendFileAndFlagsInAnyOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := []byte(`{"id":"ord_1","status":"paid"}`)
	file := filepath.Join(dir, "event.json")
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bodies := make(chan []byte, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Stripe-Signature") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		bodies <- b
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	flags := []string{"--source-url", srv.URL + "/in/src_test", "--provider", "stripe", "--secret", "whsec_stripe"}

	run := func(stdin []byte, args ...string) (int, string) {
		cmd := exec.Command(binary, append([]string{"send"}, args...)...)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Run()
		return cmd.ProcessState.ExitCode(), out.String()
	}
	for name, args := range map[string][]string{
		"flags after the file":    append([]string{file}, flags...),
		"flags around the file":   append(append(append([]string{}, flags[:2]...), file), flags[2:]...),
		"stdin with - at the end": append(append([]string{}, flags...), "-"),
	} {
		code, out := run(body, args...)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", name, code, out)
			continue
		}
		select {
		case got := <-bodies:
			if !bytes.Equal(got, body) {
				t.Errorf("%s: sent %q, want %q", name, got, body)
			}
		default:
			t.Errorf("%s: nothing was sent", name)
		}
	}
	for name, c := range map[string]struct {
		stdin []byte
		args  []string
		want  string
	}{
		"empty file":               {nil, append([]string{empty}, flags...), "empty.json is empty"},
		"empty stdin with -":       {[]byte{}, append([]string{"-"}, flags...), "standard input is empty"},
		"no file, stdin /dev/null": {nil, flags, "standard input is empty"},
		"two files":                {nil, append([]string{file, file}, flags...), "one body file"},
	} {
		code, out := run(c.stdin, c.args...)
		if code != 2 || !strings.Contains(out, c.want) || !strings.Contains(out, "run 'sluice send -h' for usage") {
			t.Errorf("%s: exit %d, %q; want 2 naming %q and the usage", name, code, out, c.want)
		}
	}
	if len(bodies) > 0 {
		t.Errorf("%d requests sent for refused command lines", len(bodies))
	}
}
