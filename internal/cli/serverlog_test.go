package cli

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testcert"
	"github.com/sluicehq/sluice/internal/testkit"
)

func TestRedactAddrs(t *testing.T) {
	for in, want := range map[string]string{
		"http: TLS handshake error from 203.0.113.9:53122: EOF":       "http: TLS handshake error from 203.0.113.0/24: EOF",
		"http: TLS handshake error from [2001:db8:1:2::7]:443: EOF":   "http: TLS handshake error from 2001:db8:1::/48: EOF",
		"from [fe80::1%eth0]:9 and 10.1.2.3":                          "from fe80::/48 and 10.1.2.0/24",
		"from [::ffff:198.51.100.23]:80":                              "from 198.51.100.0/24",
		"http: panic serving [GET]: nothing here":                     "http: panic serving [GET]: nothing here",
		"http: Accept error: accept tcp 127.0.0.1:8080: too many fds": "http: Accept error: accept tcp 127.0.0.0/24: too many fds",
	} {
		if got := redactAddrs(in); got != want {
			t.Errorf("redactAddrs(%q) = %q, want %q", in, got, want)
		}
	}
}

// A failed TLS handshake is logged through the server's logger, naming
// the client's network, never its address and port.
func TestTLSHandshakeErrorLoggedWithoutAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := testcert.Write(t, certFile, keyFile, 3003)
	srv, log := startTestServer(t, map[string]string{"SLUICE_TLS_CERT": certFile, "SLUICE_TLS_KEY": keyFile}, defaultTimeouts)

	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	client := conn.LocalAddr().String()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tc := tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS11,
		MinVersion: tls.VersionTLS10})
	if err := tc.Handshake(); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	tc.Close()
	testkit.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(log.String(), "TLS handshake error") },
		func() string { return "waiting for the handshake failure to be logged" })
	got := log.String()
	if strings.Contains(got, client) {
		t.Fatalf("the log names the client's address and port:\n%s", got)
	}
	if !strings.Contains(got, "127.0.0.0/24") || !strings.Contains(got, "level=WARN") {
		t.Fatalf("the failure is not logged at warn with the client's network:\n%s", got)
	}
}
