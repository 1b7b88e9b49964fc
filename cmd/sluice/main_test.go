package main_test

// These tests run the real sluice binary, built once in TestMain.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
)

// binary is the sluice command the tests run: this test binary itself,
// which runs as sluice when asSluice is set in its environment. So it is
// built from the code under test, and Go's test cache, which keys on the
// test binary, never serves a result of other code (as it did when the
// tests built the command with `go build`, which the cache does not see).
var binary string

// asSluice, set to 1 in the environment, makes the test binary the sluice
// command, as main.go's main is.
const asSluice = "SLUICE_TEST_BINARY_IS_SLUICE"

func TestMain(m *testing.M) {
	if os.Getenv(asSluice) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	var err error
	if binary, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "find the test binary:", err)
		os.Exit(1)
	}
	// Every command the tests start inherits it.
	if err := os.Setenv(asSluice, "1"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// proc is a running sluice serve.
type proc struct {
	cmd    *exec.Cmd
	addr   string // the listen address from the log
	url    string // http://addr
	stdout *testlog.Buffer
	done   chan error
	mu     sync.Mutex
	stderr bytes.Buffer
}

var listenRE = regexp.MustCompile(`msg="sluice listening" addr=(\S+)`)

// startSluice runs `sluice serve` on dataDir with loopback settings plus env,
// and waits until it listens.
func startSluice(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	return startSluiceArgs(t, dataDir, nil, env...)
}

// startSluiceArgs is startSluice with extra command-line flags.
func startSluiceArgs(t *testing.T, dataDir string, args []string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), "SLUICE_ALLOW_PRIVATE_DESTINATIONS=true", "SLUICE_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{cmd: cmd, stdout: &testlog.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout = p.stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sluice: %v", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.addr, p.url = a, "http://"+a
	case err := <-p.done:
		t.Fatalf("sluice exited before listening: %v\n%s", err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice did not start listening\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice did not exit\n%s", p.log())
	}
	return p.cmd.ProcessState.ExitCode()
}

// call makes an API request and decodes the JSON answer into out (if any).
func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	code := callNoFail(method, url, token, body, out)
	if code == 0 {
		t.Fatalf("%s %s failed", method, url)
	}
	return code
}

// callNoFail is call for goroutines: 0 means the request or decoding failed.
func callNoFail(method, url, token string, body any, out any) int {
	return callHeaders(method, url, token, nil, body, out)
}

// getBody GETs url with the bearer token and returns the answer, its body
// read; it fails the test when no answer comes.
func getBody(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// callHeaders is callNoFail with extra request headers.
func callHeaders(method, url, token string, header map[string]string, body any, out any) int {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, r)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	if out != nil && len(data) > 0 && json.Unmarshal(data, out) != nil {
		return 0
	}
	return resp.StatusCode
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "sluice ") {
		t.Fatalf("version printed %q", out)
	}
}

// A bad setting stops the process at start with a message naming it.
func TestBadConfigNamesTheSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--retry-schedule", "5x"}, "", "--retry-schedule"},
		{nil, "SLUICE_DELIVERY_TIMEOUT=soon", "--delivery-timeout"},
		{[]string{"--log-level", "loud"}, "", "--log-level"},
		{[]string{"--max-payload-bytes", "-1"}, "", "--max-payload-bytes"},
	}
	for _, tt := range tests {
		cmd := exec.Command(binary, append([]string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, tt.args...)...)
		cmd.Env = append(os.Environ(), tt.env)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 {
			t.Errorf("%v %s: exit %d, want non-zero", tt.args, tt.env, code)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v %s: stderr %q does not name %s", tt.args, tt.env, stderr.String(), tt.want)
		}
	}
}

// The generated admin token is printed once, on the first start, and works.
func TestAdminTokenPrintedOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startSluice(t, dir)
	// stdout and stderr reach the test through separate pipes: the token may
	// land after the listening line that startSluice waited for.
	tokenRE := regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`)
	var m string
	testkit.WaitFor(t, 10*time.Second, func() bool {
		m = tokenRE.FindString(p.stdout.String())
		return m != ""
	}, func() string { return "no token printed on first start" })
	if strings.Contains(p.log(), m) {
		t.Fatalf("the admin token reached the log")
	}
	var list map[string]any
	if code := call(t, "GET", p.url+"/v1/destinations", m, nil, &list); code != http.StatusOK {
		t.Fatalf("printed token: status %d", code)
	}
	p.cmd.Process.Signal(os.Interrupt)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
	p = startSluice(t, dir)
	if strings.Contains(p.stdout.String(), "sk_") {
		t.Fatalf("token printed again on the second start")
	}
	if code := call(t, "GET", p.url+"/v1/destinations", m, nil, &list); code != http.StatusOK {
		t.Fatalf("token after restart: status %d", code)
	}
}

// `sluice bench` runs against an in-process gateway and reports every event
// accepted and delivered.
func TestBenchInProcess(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "bench", "--events", "300", "--concurrency", "8", "--timeout", "60s")
	cmd.Env = os.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice bench: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^accepted\s+300\s`),
		regexp.MustCompile(`(?m)^delivered\s+300\s`),
		regexp.MustCompile(`(?m)^errors\s+0$`),
		regexp.MustCompile(`(?m)^ack\s+\S+\s+\S+\s+\S+`),
		regexp.MustCompile(`(?m)^end to end\s+\S+\s+\S+\s+\S+`),
	} {
		if !want.MatchString(out) {
			t.Errorf("bench output does not match %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "missing") {
		t.Errorf("bench reports missing deliveries:\n%s", out)
	}
}

// `sluice serve -h` lists every setting with its variable and exits 0.
func TestServeHelp(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "serve", "-h").Output()
	if err != nil {
		t.Fatalf("serve -h: %v", err)
	}
	for _, want := range []string{"-addr", "SLUICE_ADDR", "-retry-schedule", "SLUICE_RETRY_SCHEDULE",
		"-delivery-lease", "SLUICE_DETECT_EMAILS", "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve -h does not mention %s", want)
		}
	}
}
