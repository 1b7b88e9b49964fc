package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/safehttp"
)

// Error classes recorded in Attempt.Error. They say what went wrong without
// carrying any of the client error's text, which names the destination URL.
const (
	ErrClassTimeout    = "timeout"     // no complete response within the delivery timeout
	ErrClassDNS        = "dns"         // the host name did not resolve
	ErrClassRefused    = "refused"     // the host refused the connection: nothing listens on the port
	ErrClassConnect    = "connect"     // the connection could not be made some other way (unreachable, reset)
	ErrClassBlocked    = "blocked"     // the address dialed is not allowed (SSRF guard)
	ErrClassTLS        = "tls"         // handshake or certificate verification failed, or the server refused the client certificate
	ErrClassRedirect   = "redirect"    // a 3xx response; redirects are not followed
	ErrClassHTTPStatus = "http_status" // any other non-2xx response
	ErrClassNetwork    = "network"     // the connection failed some other way
	ErrClassSigning    = "signing"     // the destination's secret could not sign
)

// newClient returns the HTTP client deliveries use by default. It is the one
// place the transport is built: its dialer checks every address it connects
// to against policy, after DNS resolution, so a destination whose name
// resolves to a private address at delivery time (DNS rebinding) is refused.
func newClient(timeout time.Duration, perHost int, policy safehttp.Policy) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		// No proxy from the environment: a proxy would see every payload and
		// defeat the connect-time address check.
		Proxy:                 nil,
		DialContext:           policy.DialContext(dialer),
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		MaxIdleConns:          4 * perHost,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: transport, CheckRedirect: noRedirects}
}

// noRedirects makes the client return a 3xx response instead of following
// it: a destination may not send its deliveries somewhere else.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ClassifyError returns the class of an error from http.Client.Do. It looks
// at error types only; the error's text is never used or kept.
func ClassifyError(err error) string {
	var netErr net.Error
	switch {
	case isDNSError(err):
		return ErrClassDNS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ErrClassTimeout
	case errors.Is(err, safehttp.ErrBlocked):
		return ErrClassBlocked
	case isTLSError(err):
		return ErrClassTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrClassRefused
	case isConnectError(err):
		return ErrClassConnect
	default:
		return ErrClassNetwork
	}
}

// isTLSError reports whether err is of a TLS handshake: the server's
// certificate did not verify, or the server refused ours (or wanted one
// and got none), which crypto/tls reports as a "remote error" *net.OpError
// holding the alert the server sent.
func isTLSError(err error) bool {
	var (
		op        *net.OpError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert) ||
		errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &op) && op.Op == "remote error"
}

func isDNSError(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
