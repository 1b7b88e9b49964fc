package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/testcert"
)

// servedSerial opens a new TLS connection trusting roots and returns the
// serial number of the certificate the server presents.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// getHealthz asks /healthz over HTTPS on a new connection, trusting roots.
func getHealthz(t *testing.T, url string, roots *x509.CertPool) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// With --tls-cert/--tls-key Sluice serves HTTPS, TLS 1.2 and up only, and a
// reload swaps in the renewed pair or, if the files are broken, keeps the
// pair it has.
func TestTLSServeAndReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testcert.Write(t, certFile, keyFile, 1001)
	srv, log := startTestServer(t, map[string]string{"SLUICE_TLS_CERT": certFile, "SLUICE_TLS_KEY": keyFile}, defaultTimeouts)
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s, want https", srv.URL())
	}
	roots := x509.NewCertPool()
	roots.AddCert(first)
	if code := getHealthz(t, srv.URL(), roots); code != http.StatusOK {
		t.Fatalf("GET /healthz over TLS: %d, want 200", code)
	}

	// A client that tops out at TLS 1.1 is refused by the server.
	old, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("TLS 1.1 handshake: %v, want a protocol version alert", err)
	}

	// A renewed pair is served to new connections after a reload.
	second := testcert.Write(t, certFile, keyFile, 2002)
	roots.AddCert(second)
	if got := servedSerial(t, srv.Addr(), roots); got.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("before reload: serial %s, want %s", got, first.SerialNumber)
	}
	if err := srv.ReloadCertificate(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := servedSerial(t, srv.Addr(), roots); got.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after reload: serial %s, want %s", got, second.SerialNumber)
	}
	if !strings.Contains(log.String(), `msg="tls certificate reloaded"`) {
		t.Errorf("no reload message in the log:\n%s", log)
	}

	// Broken files: the reload fails, and the second pair stays in service.
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.WriteFile(f, []byte("not a pem file\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.ReloadCertificate(); err == nil {
		t.Fatal("reload of garbage succeeded")
	}
	if got := servedSerial(t, srv.Addr(), roots); got.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after a failed reload: serial %s, want %s", got, second.SerialNumber)
	}
	if code := getHealthz(t, srv.URL(), roots); code != http.StatusOK {
		t.Fatalf("GET /healthz after a failed reload: %d, want 200", code)
	}
	if !strings.Contains(log.String(), `level=WARN msg="tls certificate reload failed`) {
		t.Errorf("no warning for the failed reload in the log:\n%s", log)
	}
	if keyBody := strings.Split(string(keyPEM), "\n")[1]; strings.Contains(log.String(), keyBody) {
		t.Error("key material reached the log")
	}
}

// A key pair that does not load stops the start with a message naming the
// settings.
func TestTLSBadPairAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.Write(t, certFile, keyFile, 1)
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SLUICE_ADDR": "127.0.0.1:0", "SLUICE_DATA_DIR": t.TempDir(), "SLUICE_ADMIN_TOKEN": testToken,
		"SLUICE_TLS_CERT": certFile, "SLUICE_TLS_KEY": keyFile,
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	srv, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil {
		srv.Close()
		t.Fatal("start with a broken key succeeded")
	}
	if want := "--tls-cert/--tls-key (SLUICE_TLS_CERT/SLUICE_TLS_KEY)"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}
