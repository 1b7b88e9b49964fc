package deliver_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/testcert"
	"github.com/sluicehq/sluice/internal/testkit"
)

// destinationWith stores an enabled destination for url receiving every
// event, as set changes it.
func (b *testBundle) destinationWith(t *testing.T, url string, set func(d *sluice.Destination)) *sluice.Destination {
	t.Helper()
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: b.tenant.ID, Name: "receiver " + url,
		URL: url, EventTypes: []string{"*"}, Secret: signature.NewSecret(), Enabled: true}
	set(d)
	if err := b.store.CreateDestination(b.ctx, d); err != nil {
		t.Fatalf("create destination: %v", err)
	}
	return d
}

// verifySigned fails the test unless r verifies with the destination's
// secret the Standard Webhooks way.
func verifySigned(t *testing.T, d *sluice.Destination, r received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(d.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Errorf("delivery does not verify: %v", err)
	}
}

// Every delivery carries the destination's static headers and the
// Authorization of its auth, basic or bearer, and is still signed over
// the body alone.
func TestDeliveriesCarryHeadersAndAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recvBasic, recvBearer, recvCustom := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK)
	basic := b.destinationWith(t, recvBasic.URL, func(d *sluice.Destination) {
		d.Headers = map[string]string{"X-Team": "payments", "Cookie": "route=eu"}
		d.Auth = sluice.DestinationAuth{Type: sluice.AuthBasic, Username: "hooks", Password: "s3cret:pa ss"}
	})
	bearer := b.destinationWith(t, recvBearer.URL, func(d *sluice.Destination) {
		d.Auth = sluice.DestinationAuth{Type: sluice.AuthBearer, Token: "tok_abc.def"}
	})
	custom := b.destinationWith(t, recvCustom.URL, func(d *sluice.Destination) {
		d.Headers = map[string]string{"authorization": "Token custom-scheme"}
	})
	ev := b.event(t, "invoice.paid", []byte(`{"n":1}`), "")
	b.start(t, deliver.Config{})
	b.waitAll(t, ev.ID, 3)

	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("hooks:s3cret:pa ss"))
	r := recvBasic.received()[0]
	if got := r.header.Get("Authorization"); got != want {
		t.Errorf("basic: Authorization = %q, want %q", got, want)
	}
	if got, cookie := r.header.Get("X-Team"), r.header.Get("Cookie"); got != "payments" || cookie != "route=eu" {
		t.Errorf("basic: X-Team = %q, Cookie = %q", got, cookie)
	}
	verifySigned(t, basic, r)
	r = recvBearer.received()[0]
	if got := r.header.Get("Authorization"); got != "Bearer tok_abc.def" {
		t.Errorf("bearer: Authorization = %q", got)
	}
	verifySigned(t, bearer, r)
	r = recvCustom.received()[0]
	if got := r.header.Get("Authorization"); got != "Token custom-scheme" {
		t.Errorf("custom: Authorization = %q", got)
	}
	verifySigned(t, custom, r)
}

// Headers Sluice sets are Sluice's: a destination stored with one of them
// (the API refuses it; here it went straight into the store) does not
// replace the signature, the content type or the user agent.
func TestStaticHeadersCannotReplaceSluices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, http.StatusOK)
	d := b.destinationWith(t, recv.URL, func(d *sluice.Destination) {
		d.Headers = map[string]string{"webhook-id": "forged", "Webhook-Signature": "v1,forged",
			"content-type": "text/forged", "User-Agent": "forged", "Sluice-Event-Type": "forged",
			"Proxy-Connection": "forged", "X-Kept": "yes"}
	})
	ev := b.event(t, "invoice.paid", []byte(`{"n":1}`), "application/json")
	b.start(t, deliver.Config{})
	b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)

	r := recv.received()[0]
	for name, v := range r.header {
		if strings.Contains(strings.Join(v, ","), "forged") {
			t.Errorf("%s: %q, a static header replaced Sluice's", name, v)
		}
	}
	if r.header.Get("webhook-id") != ev.ID || r.header.Get("Content-Type") != "application/json" ||
		r.header.Get("X-Kept") != "yes" {
		t.Errorf("headers = %v", r.header)
	}
	verifySigned(t, d, r)
}

// mtlsServer is a TLS receiver on loopback that requires a client
// certificate issued by its CA, and keeps the common name each request's
// connection was authenticated with, by path.
type mtlsServer struct {
	*httptest.Server
	mu  sync.Mutex
	got []mtlsRequest
}

type mtlsRequest struct {
	path, commonName, remote string
	received
}

func newMTLSServer(t *testing.T, serverCA, clientCA *testcert.CA) *mtlsServer {
	t.Helper()
	s := &mtlsServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(r.Body)
		s.mu.Lock()
		s.got = append(s.got, mtlsRequest{path: r.URL.Path, commonName: r.TLS.PeerCertificates[0].Subject.CommonName,
			remote: r.RemoteAddr, received: received{header: r.Header.Clone(), body: body.Bytes()}})
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{serverCA.Server(t)}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: clientCA.Pool()}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *mtlsServer) requests() []mtlsRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mtlsRequest(nil), s.got...)
}

// trusting is a client that trusts ca's server certificates, as a
// dispatcher's Client; the dispatcher clones its transport per client
// certificate.
func trusting(ca *testcert.CA) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
}

// Deliveries to a destination with a client certificate present it; a
// second destination with another certificate at the same server gets
// connections of its own, never one authenticated with the first's, even
// when the first's is idle in a pool; a replaced certificate is presented
// from the next delivery on.
func TestClientCertificatePresentedPerDestination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ca := testcert.NewCA(t, "test ca")
	srv := newMTLSServer(t, ca, ca)
	certA, keyA := ca.Client(t, "client a")
	certB, keyB := ca.Client(t, "client b")
	destA := b.destinationWith(t, srv.URL+"/a", func(d *sluice.Destination) {
		d.EventTypes = []string{"a.*"}
		d.ClientCert = sluice.ClientCertificate{CertPEM: string(certA), KeyPEM: string(keyA)}
	})
	destB := b.destinationWith(t, srv.URL+"/b", func(d *sluice.Destination) {
		d.EventTypes = []string{"b.*"}
		d.ClientCert = sluice.ClientCertificate{CertPEM: string(certB), KeyPEM: string(keyB)}
	})
	b.start(t, deliver.Config{Client: trusting(ca)})

	// A first, so its connection idles in a pool when B's delivery goes.
	first := b.event(t, "a.one", []byte(`{"n":1}`), "")
	b.waitDelivery(t, first.ID, sluice.DeliverySucceeded, 5*time.Second)
	for i, typ := range []string{"b.one", "a.two", "b.two"} {
		ev := b.event(t, typ, []byte(`{"n":2}`), "")
		b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)
		if n := len(srv.requests()); n != i+2 {
			t.Fatalf("server got %d requests, want %d", n, i+2)
		}
	}
	remotes := map[string]string{} // remote address → the common name it authenticated with
	for _, r := range srv.requests() {
		want := map[string]string{"/a": "client a", "/b": "client b"}[r.path]
		if r.commonName != want {
			t.Errorf("%s arrived over a connection of %q, want %q", r.path, r.commonName, want)
		}
		if cn, ok := remotes[r.remote]; ok && cn != r.commonName {
			t.Errorf("connection %s carried both %q and %q", r.remote, cn, r.commonName)
		}
		remotes[r.remote] = r.commonName
		verifySigned(t, map[string]*sluice.Destination{"/a": destA, "/b": destB}[r.path], r.received)
	}

	// A new certificate for A: the next delivery presents it.
	certC, keyC := ca.Client(t, "client a renewed")
	destA.ClientCert = sluice.ClientCertificate{CertPEM: string(certC), KeyPEM: string(keyC)}
	if err := b.store.UpdateDestination(b.ctx, destA); err != nil {
		t.Fatal(err)
	}
	ev := b.event(t, "a.three", []byte(`{"n":3}`), "")
	b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)
	rs := srv.requests()
	if last := rs[len(rs)-1]; last.path != "/a" || last.commonName != "client a renewed" {
		t.Errorf("after the renewal %s arrived over a connection of %q", last.path, last.commonName)
	}
}

// A server that refuses the certificate presented (issued by a CA it does
// not trust), or wants one when the destination has none, fails the
// attempt as "tls".
func TestRefusedClientCertificateIsTLSError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ca, other := testcert.NewCA(t, "server ca"), testcert.NewCA(t, "other ca")
	srv := newMTLSServer(t, ca, ca)
	cert, key := other.Client(t, "stranger")
	b.destinationWith(t, srv.URL+"/stranger", func(d *sluice.Destination) {
		d.EventTypes = []string{"stranger"}
		d.ClientCert = sluice.ClientCertificate{CertPEM: string(cert), KeyPEM: string(key)}
	})
	b.destinationWith(t, srv.URL+"/none", func(d *sluice.Destination) { d.EventTypes = []string{"none"} })
	b.start(t, deliver.Config{Client: trusting(ca)})

	for _, typ := range []string{"stranger", "none"} {
		ev := b.event(t, typ, []byte(`{}`), "")
		b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
		assertAttempts(t, b.attempts(t, ev.ID), failed(0, deliver.ErrClassTLS))
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("server handled %d requests, want 0", n)
	}
}

// A client certificate changes nothing of the SSRF guard: with the default
// client and a strict policy, a loopback destination with a certificate is
// refused at connect time, before any handshake.
func TestClientCertificateKeepsSSRFGuard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ca := testcert.NewCA(t, "test ca")
	srv := newMTLSServer(t, ca, ca)
	cert, key := ca.Client(t, "client")
	b.destinationWith(t, srv.URL, func(d *sluice.Destination) {
		d.ClientCert = sluice.ClientCertificate{CertPEM: string(cert), KeyPEM: string(key)}
		d.Auth = sluice.DestinationAuth{Type: sluice.AuthBearer, Token: "tok"}
	})
	b.wantBlocked(t)
	if n := len(srv.requests()); n != 0 {
		t.Errorf("server handled %d requests, want 0", n)
	}
}

// Through successes and failures, the dispatcher's debug log never holds a
// password, token, static header value, certificate or private key.
func TestLogsHoldNoCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ca, other := testcert.NewCA(t, "server ca"), testcert.NewCA(t, "other ca")
	srv := newMTLSServer(t, ca, ca)
	recv := newReceiver(t, http.StatusUnauthorized, http.StatusOK)
	cert, key := ca.Client(t, "client")
	badCert, badKey := other.Client(t, "stranger")
	const password, token, header = "pw-9f3a1c77e2", "tok-5be0d94a18", "hdr-0c6e2a9b41"
	b.destinationWith(t, recv.URL, func(d *sluice.Destination) {
		d.EventTypes = []string{"basic"}
		d.Headers = map[string]string{"X-Secretish": header}
		d.Auth = sluice.DestinationAuth{Type: sluice.AuthBasic, Username: "u", Password: password}
	})
	b.destinationWith(t, recv.URL, func(d *sluice.Destination) {
		d.EventTypes = []string{"bearer"}
		d.Auth = sluice.DestinationAuth{Type: sluice.AuthBearer, Token: token}
	})
	b.destinationWith(t, srv.URL, func(d *sluice.Destination) {
		d.EventTypes = []string{"mtls"}
		d.ClientCert = sluice.ClientCertificate{CertPEM: string(cert), KeyPEM: string(key)}
	})
	b.destinationWith(t, srv.URL, func(d *sluice.Destination) {
		d.EventTypes = []string{"refused"}
		d.ClientCert = sluice.ClientCertificate{CertPEM: string(badCert), KeyPEM: string(badKey)}
	})
	b.start(t, deliver.Config{Client: trusting(ca), RetrySchedule: []time.Duration{0, 10 * time.Millisecond}})
	for _, typ := range []string{"basic", "bearer", "mtls"} {
		b.waitDelivery(t, b.event(t, typ, []byte(`{}`), "").ID, sluice.DeliverySucceeded, 5*time.Second)
	}
	b.waitDelivery(t, b.event(t, "refused", []byte(`{}`), "").ID, sluice.DeliveryExhausted, 5*time.Second)

	logs := b.logs.String()
	if !strings.Contains(logs, "delivery succeeded") || !strings.Contains(logs, "error_class=tls") {
		t.Fatalf("the log does not show the attempts:\n%s", logs)
	}
	needles := map[string]string{"password": password, "token": token, "header value": header,
		"basic credentials": base64.StdEncoding.EncodeToString([]byte("u:" + password))}
	for _, pemText := range [][]byte{cert, key, badCert, badKey} {
		lines := strings.Split(strings.TrimSpace(string(pemText)), "\n")
		needles["pem "+lines[0]+" "+lines[1][:8]] = lines[1] // the first line of base64
	}
	for name, v := range needles {
		if strings.Contains(logs, v) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

// waitAll waits until the event has n deliveries, all succeeded.
func (b *testBundle) waitAll(t *testing.T, eventID string, n int) {
	t.Helper()
	done := 0
	testkit.WaitFor(t, 5*time.Second, func() bool {
		ds, err := b.store.Deliveries(b.ctx, b.tenant.ID, eventID)
		if err != nil {
			t.Fatal(err)
		}
		done = 0
		for _, d := range ds {
			if d.Status == sluice.DeliverySucceeded {
				done++
			}
		}
		return len(ds) == n && done == n
	}, func() string { return fmt.Sprintf("%d of %d deliveries succeeded", done, n) })
}
