package main_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testcert"
	"github.com/sluicehq/sluice/internal/testkit"
)

// authReceiver is a webhook endpoint that accepts a delivery only when
// allow says so and it verifies with the destination's secret, and counts
// what it accepted and refused.
type authReceiver struct {
	t     *testing.T
	srv   *httptest.Server
	allow func(r *http.Request) bool

	mu       sync.Mutex
	verify   *standardwebhooks.Webhook
	accepted map[string]int // webhook-id → times accepted
	refused  int
}

func newAuthReceiver(t *testing.T, allow func(r *http.Request) bool) *authReceiver {
	a := &authReceiver{t: t, allow: allow, accepted: make(map[string]int)}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	return a
}

func (a *authReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.allow(r) {
		a.refused++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if a.verify == nil || a.verify.Verify(body, r.Header) != nil {
		a.t.Errorf("a delivery does not verify")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a.accepted[r.Header.Get("webhook-id")]++
	w.WriteHeader(http.StatusNoContent)
}

func (a *authReceiver) setSecret(secret string) {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		a.t.Fatal(err)
	}
	a.mu.Lock()
	a.verify = v
	a.mu.Unlock()
}

// waitAccepted waits until the event's delivery was accepted.
func (a *authReceiver) waitAccepted(t *testing.T, p *proc, eventID string) {
	t.Helper()
	testkit.WaitFor(t, 30*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.accepted[eventID] > 0
	}, func() string { return "event " + eventID + " not accepted\n" + p.log() })
}

// Destination authentication through the real binary: one receiver wants
// HTTP Basic credentials and a custom header, another (over HTTPS) a
// client certificate from its CA; both get signed deliveries. A password
// replaced by PATCH is sent from then on. The API never shows the password
// or the private key, and the debug log holds none of the credentials.
func TestDestinationAuthEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testcert.NewCA(t, "receiver ca")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	password, route := "pw-"+randomHex(8), "route-"+randomHex(6)
	var (
		credMu      sync.Mutex
		curPassword = password
	)
	basic := newAuthReceiver(t, func(r *http.Request) bool {
		user, pass, ok := r.BasicAuth()
		credMu.Lock()
		defer credMu.Unlock()
		return ok && user == "hooks" && pass == curPassword && r.Header.Get("X-Route") == route
	})
	basic.srv.Start()
	t.Cleanup(basic.srv.Close)

	mtls := newAuthReceiver(t, func(r *http.Request) bool {
		return len(r.TLS.PeerCertificates) > 0 && r.TLS.PeerCertificates[0].Subject.CommonName == "sluice client"
	})
	mtls.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t)}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: ca.Pool()}
	mtls.srv.StartTLS()
	t.Cleanup(mtls.srv.Close)
	certPEM, keyPEM := ca.Client(t, "sluice client")

	token := sluice.NewToken()
	// The dispatcher trusts the receiver's CA the way an operator's would
	// be trusted: through the system roots, which SSL_CERT_FILE names.
	p := startSluice(t, filepath.Join(dir, "data"), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_LOG_LEVEL=debug",
		"SSL_CERT_FILE="+caFile)

	var basicDest, mtlsDest struct {
		ID, Secret string
		Headers    map[string]string
		Auth       map[string]any
		ClientCert map[string]any `json:"client_certificate"`
	}
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "basic", "url": basic.srv.URL,
		"event_types": []string{"basic.*"}, "headers": map[string]string{"X-Route": route},
		"auth": map[string]string{"type": "basic", "username": "hooks", "password": password}}, &basicDest); code != http.StatusCreated {
		t.Fatalf("create the basic destination: %d", code)
	}
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "mtls", "url": mtls.srv.URL,
		"event_types":        []string{"mtls.*"},
		"client_certificate": map[string]string{"cert_pem": string(certPEM), "key_pem": string(keyPEM)}}, &mtlsDest); code != http.StatusCreated {
		t.Fatalf("create the mTLS destination: %d", code)
	}
	basic.setSecret(basicDest.Secret)
	mtls.setSecret(mtlsDest.Secret)
	if _, shown := basicDest.Auth["password"]; shown || basicDest.Auth["username"] != "hooks" {
		t.Errorf("auth shown as %v", basicDest.Auth)
	}
	if mtlsDest.ClientCert["subject"] != "CN=sluice client" {
		t.Errorf("client certificate shown as %v", mtlsDest.ClientCert)
	}

	basic.waitAccepted(t, p, publish(t, p, token, map[string]any{"type": "basic.one", "payload": map[string]any{"n": 1}}))
	mtls.waitAccepted(t, p, publish(t, p, token, map[string]any{"type": "mtls.one", "payload": map[string]any{"n": 1}}))

	// Rotation: PATCH replaces the password, and the receiver takes only
	// the new one from then on.
	newPassword := "pw-" + randomHex(8)
	credMu.Lock()
	curPassword = newPassword
	credMu.Unlock()
	if code := call(t, "PATCH", p.url+"/v1/destinations/"+basicDest.ID, token, map[string]any{
		"auth": map[string]string{"type": "basic", "username": "hooks", "password": newPassword}}, nil); code != http.StatusOK {
		t.Fatalf("PATCH auth: %d", code)
	}
	basic.waitAccepted(t, p, publish(t, p, token, map[string]any{"type": "basic.two", "payload": map[string]any{"n": 2}}))

	var got map[string]any
	for _, id := range []string{basicDest.ID, mtlsDest.ID} {
		if code := call(t, "GET", p.url+"/v1/destinations/"+id, token, nil, &got); code != http.StatusOK {
			t.Fatalf("GET destination: %d", code)
		}
		raw, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		shown := string(raw)
		for name, v := range map[string]string{"password": password, "new password": newPassword,
			"private key": pemBody(keyPEM)} {
			if strings.Contains(shown, v) {
				t.Errorf("GET /v1/destinations/%s shows the %s", id, name)
			}
		}
	}
	logs := p.log()
	for name, v := range map[string]string{"password": password, "new password": newPassword, "header value": route,
		"private key": pemBody(keyPEM), "certificate": pemBody(certPEM)} {
		if strings.Contains(logs, v) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

// pemBody is the first line of a PEM block's base64: enough to find it.
func pemBody(pemText []byte) string {
	return strings.Split(string(pemText), "\n")[1]
}
