package deliver

import (
	"container/list"
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Bounds of the clients kept for destinations with a client certificate.
const (
	// maxCertClients is how many are kept; past it the least recently
	// used goes. Each holds its own connection pool.
	maxCertClients = 256
	// certClientIdle is how long one is kept unused: a destination
	// deleted, or no longer sent to, lets its client go.
	certClientIdle = 10 * time.Minute
)

// certClients hands out the HTTP client of a delivery: the dispatcher's
// own for a destination without a client certificate, and for one with a
// client certificate a client of its own, whose transport is a clone of
// the dispatcher's (the same SSRF-guarded dialer, timeouts, no proxy, no
// redirects) presenting the certificate.
//
// The clone is the point. http.Transport pools connections by scheme and
// address, not by the certificate a connection presented, so one shared
// transport would send destination B's deliveries over a connection
// authenticated with destination A's certificate when both point at the
// same host. A transport per destination and certificate never does; nor
// does TLS session resumption, which the clone has no cache for.
//
// They are kept by destination id, with a fingerprint of the certificate
// and key: a changed certificate replaces the destination's client, whose
// idle connections are closed.
type certClients struct {
	base *http.Client
	now  func() time.Time

	mu     sync.Mutex
	lru    *list.List               // of *certClient, most recently used first
	byDest map[string]*list.Element // destination id → element of lru
}

// certClient is the client of one destination and certificate.
type certClient struct {
	destID      string
	fingerprint [sha256.Size]byte
	client      *http.Client
	lastUsed    time.Time
}

func newCertClients(base *http.Client, now func() time.Time) *certClients {
	return &certClients{base: base, now: now, lru: list.New(), byDest: make(map[string]*list.Element)}
}

// clientFor returns the client deliveries to d go through, or
// ErrClassTLS when d's client certificate cannot be presented: its pair
// does not load (the API refuses such a pair, so only a damaged one), or
// the dispatcher was given a Client whose transport is not an
// *http.Transport to clone. Nothing of the certificate or its key is
// logged or kept in an error.
func (cc *certClients) clientFor(d *sluice.Destination) (*http.Client, string) {
	if d.ClientCert.CertPEM == "" {
		return cc.base, ""
	}
	fp := certFingerprint(d.ClientCert)
	now := cc.now()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.dropIdle(now)
	if el, ok := cc.byDest[d.ID]; ok {
		c := el.Value.(*certClient)
		if c.fingerprint == fp {
			c.lastUsed = now
			cc.lru.MoveToFront(el)
			return c.client, ""
		}
		cc.remove(el) // the certificate changed: its connections go with it
	}
	client, ok := cc.build(d.ClientCert)
	if !ok {
		return nil, ErrClassTLS
	}
	cc.byDest[d.ID] = cc.lru.PushFront(&certClient{destID: d.ID, fingerprint: fp, client: client, lastUsed: now})
	for cc.lru.Len() > maxCertClients {
		cc.remove(cc.lru.Back())
	}
	return client, ""
}

// build returns a client like the base one whose transport presents the
// certificate, and false when it cannot.
func (cc *certClients) build(cert sluice.ClientCertificate) (*http.Client, bool) {
	pair, err := tls.X509KeyPair([]byte(cert.CertPEM), []byte(cert.KeyPEM))
	if err != nil {
		return nil, false
	}
	var base *http.Transport
	switch t := cc.base.Transport.(type) {
	case nil:
		base, _ = http.DefaultTransport.(*http.Transport)
	case *http.Transport:
		base = t
	}
	if base == nil {
		return nil, false
	}
	transport := base.Clone()
	if transport.TLSClientConfig == nil {
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc := transport.TLSClientConfig
	tc.Certificates = nil
	// Presented whatever CAs the server names as acceptable: a server
	// asking for a certificate gets this one, and says itself whether it
	// will do.
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	// A resumed session carries the identity of the handshake it came
	// from; a shared cache could lend one destination's to another.
	tc.ClientSessionCache = nil
	client := *cc.base
	client.Transport = transport
	return &client, true
}

// dropIdle removes the clients unused for certClientIdle, oldest first.
// Call it with cc.mu held.
func (cc *certClients) dropIdle(now time.Time) {
	for el := cc.lru.Back(); el != nil && now.Sub(el.Value.(*certClient).lastUsed) > certClientIdle; el = cc.lru.Back() {
		cc.remove(el)
	}
}

// remove forgets a client and closes its idle connections; connections in
// use close when their deliveries end and the transport's idle timeout
// passes. Call it with cc.mu held.
func (cc *certClients) remove(el *list.Element) {
	c := cc.lru.Remove(el).(*certClient)
	delete(cc.byDest, c.destID)
	c.client.CloseIdleConnections()
}

// closeAll removes every client.
func (cc *certClients) closeAll() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for el := cc.lru.Back(); el != nil; el = cc.lru.Back() {
		cc.remove(el)
	}
}

// len is how many clients are kept.
func (cc *certClients) len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.lru.Len()
}

// certFingerprint identifies a certificate and key pair; it never leaves
// the process.
func certFingerprint(c sluice.ClientCertificate) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(c.CertPEM))
	h.Write([]byte{0})
	h.Write([]byte(c.KeyPEM))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
