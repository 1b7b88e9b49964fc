package main_test

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testcert"
)

// servedSerial opens a new TLS connection trusting roots and returns the
// serial number of the certificate the server presents.
func servedSerial(addr string, roots *x509.CertPool) (*big.Int, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// sluice serve with --tls-cert/--tls-key answers over HTTPS, picks up a
// renewed certificate on SIGHUP without a restart, and still drains and
// exits 0 on SIGTERM.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testcert.Write(t, certFile, keyFile, 1001)
	p := startSluiceArgs(t, t.TempDir(), []string{"--tls-cert", certFile, "--tls-key", keyFile})
	if !strings.Contains(p.log(), "tls=true") {
		t.Fatalf("sluice does not say it serves TLS:\n%s", p.log())
	}

	roots := x509.NewCertPool()
	roots.AddCert(first)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + p.addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over TLS: %d, want 200", resp.StatusCode)
	}

	second := testcert.Write(t, certFile, keyFile, 2002)
	roots.AddCert(second)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		got, err := servedSerial(p.addr, roots)
		if err != nil {
			t.Fatalf("tls dial after SIGHUP: %v\n%s", err, p.log())
		}
		if got.Cmp(second.SerialNumber) == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("still serving serial %s 10s after SIGHUP, want %s\n%s", got, second.SerialNumber, p.log())
		}
	}
	// The log line may land a moment after the new certificate is served.
	for !strings.Contains(p.log(), `msg="tls certificate reloaded"`) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no reload message in the log:\n%s", p.log())
		}
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.log())
	}
}
