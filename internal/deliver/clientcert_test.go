package deliver

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/testcert"
)

func clientCert(t *testing.T, ca *testcert.CA, name string) sluice.ClientCertificate {
	cert, key := ca.Client(t, name)
	return sluice.ClientCertificate{CertPEM: string(cert), KeyPEM: string(key)}
}

// A destination with a client certificate gets a client of its own, a
// clone of the base one (timeouts, no proxy, no redirects); the same
// client while its certificate stays, a new one when it changes; one
// without a certificate gets the base client.
func TestCertClientsPerDestinationAndCertificate(t *testing.T) {
	base := newClient(3*time.Second, 2, safehttp.Policy{})
	base.Timeout = 7 * time.Second
	cc := newCertClients(base, time.Now)
	ca := testcert.NewCA(t, "ca")
	a := &sluice.Destination{ID: "dst_a", ClientCert: clientCert(t, ca, "a")}
	b := &sluice.Destination{ID: "dst_b", ClientCert: clientCert(t, ca, "b")}
	plain := &sluice.Destination{ID: "dst_plain"}

	if got, class := cc.clientFor(plain); got != base || class != "" {
		t.Fatalf("a destination without a certificate got %p, %q; want the base client", got, class)
	}
	ca1, _ := cc.clientFor(a)
	cb, _ := cc.clientFor(b)
	if ca1 == base || cb == base || ca1 == cb || ca1.Transport == cb.Transport {
		t.Fatal("destinations with certificates share a client or transport")
	}
	if again, _ := cc.clientFor(a); again != ca1 {
		t.Fatal("the same destination and certificate got a new client")
	}
	tr, baseTr := ca1.Transport.(*http.Transport), base.Transport.(*http.Transport)
	if tr.Proxy != nil || tr.DialContext == nil || tr.TLSHandshakeTimeout != baseTr.TLSHandshakeTimeout ||
		tr.MaxIdleConnsPerHost != baseTr.MaxIdleConnsPerHost || tr.TLSClientConfig.MinVersion != baseTr.TLSClientConfig.MinVersion ||
		tr.TLSClientConfig.ClientSessionCache != nil || tr.TLSClientConfig.GetClientCertificate == nil {
		t.Fatalf("the clone differs from the base transport: %+v", tr)
	}
	if ca1.Timeout != base.Timeout || ca1.CheckRedirect == nil {
		t.Fatal("the clone lost the base client's timeout or redirect refusal")
	}
	if baseTr.TLSClientConfig.GetClientCertificate != nil {
		t.Fatal("the base transport presents a certificate")
	}

	a.ClientCert = clientCert(t, ca, "a renewed")
	if renewed, _ := cc.clientFor(a); renewed == ca1 {
		t.Fatal("a renewed certificate kept the old client")
	}
	if n := cc.len(); n != 2 {
		t.Fatalf("%d clients kept, want 2 (the old one of a dropped)", n)
	}
}

// The clients kept are bounded, least recently used first out, and go
// when unused for certClientIdle.
func TestCertClientsBounded(t *testing.T) {
	now := time.Now()
	cc := newCertClients(&http.Client{Transport: &http.Transport{}}, func() time.Time { return now })
	cert := clientCert(t, testcert.NewCA(t, "ca"), "c")
	first := &sluice.Destination{ID: "dst_first", ClientCert: cert}
	firstClient, _ := cc.clientFor(first)
	for i := range maxCertClients {
		cc.clientFor(&sluice.Destination{ID: fmt.Sprintf("dst_%d", i), ClientCert: cert})
	}
	if n := cc.len(); n != maxCertClients {
		t.Fatalf("%d clients kept, want %d", n, maxCertClients)
	}
	if again, _ := cc.clientFor(first); again == firstClient {
		t.Fatal("the least recently used client was kept past the bound")
	}
	now = now.Add(certClientIdle + time.Second)
	cc.clientFor(first)
	if n := cc.len(); n != 1 {
		t.Fatalf("%d clients kept after the idle time, want 1", n)
	}
	cc.closeAll()
	if n := cc.len(); n != 0 {
		t.Fatalf("%d clients kept after closeAll", n)
	}
}

// roundTripper is a transport that is not an *http.Transport.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A certificate that cannot be presented fails as "tls" rather than going
// out without it: a damaged pair, or a given client whose transport
// cannot be cloned.
func TestCertClientsCannotPresent(t *testing.T) {
	cert := clientCert(t, testcert.NewCA(t, "ca"), "c")
	odd := newCertClients(&http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
		t.Fatal("the request went out")
		return nil, nil
	})}, time.Now)
	if c, class := odd.clientFor(&sluice.Destination{ID: "dst_a", ClientCert: cert}); c != nil || class != ErrClassTLS {
		t.Fatalf("clientFor = %p, %q; want nil, tls", c, class)
	}
	cc := newCertClients(&http.Client{}, time.Now)
	damaged := sluice.ClientCertificate{CertPEM: cert.CertPEM, KeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}
	if c, class := cc.clientFor(&sluice.Destination{ID: "dst_b", ClientCert: damaged}); c != nil || class != ErrClassTLS {
		t.Fatalf("clientFor = %p, %q; want nil, tls", c, class)
	}
	if c, class := cc.clientFor(&sluice.Destination{ID: "dst_c", ClientCert: cert}); c == nil || class != "" {
		t.Fatalf("a client with the default transport: %p, %q", c, class)
	}
}
