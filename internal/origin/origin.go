// Package origin works out the URL a client reached the gateway by: the
// configured public URL when there is one, else the scheme and host of
// the request, as a trusted proxy in front reports them
// (X-Forwarded-Proto, X-Forwarded-Host) or as the connection shows them.
// Ingest URLs, the session cookie's Secure flag and the check that a
// destination does not lead back to the gateway all go by it.
package origin

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// Origin is how the gateway is reached. The zero Origin trusts no proxy
// and has no public URL.
type Origin struct {
	// Public is the gateway's public base URL (--public-url), nil for
	// none: it wins over anything a request says.
	Public *url.URL
	// Trusted are the peers whose X-Forwarded-Proto and X-Forwarded-Host
	// are believed (--trusted-proxies).
	Trusted []netip.Prefix
}

// ParsePublic checks a public base URL: absolute http or https, with a
// host, without credentials, query or fragment. A path is kept as a
// prefix, without its trailing slash.
func ParsePublic(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return nil, errors.New("must be an absolute URL such as https://hooks.example.com")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must use http or https")
	case u.User != nil:
		return nil, errors.New("must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, errors.New("must have no query or fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Base is the base URL of the gateway as the client of r reached it,
// without a trailing slash: "https://hooks.example.com".
func (o Origin) Base(r *http.Request) string {
	if o.Public != nil {
		return o.Public.String()
	}
	return o.scheme(r) + "://" + o.host(r)
}

// Secure reports whether the client of r reached the gateway over HTTPS:
// a cookie set in the answer should be Secure.
func (o Origin) Secure(r *http.Request) bool {
	if o.Public != nil {
		return o.Public.Scheme == "https"
	}
	return o.scheme(r) == "https"
}

// Hosts returns the host[:port] names the client of r used to reach the
// gateway: the public URL's, the request's own, and a trusted proxy's.
func (o Origin) Hosts(r *http.Request) []string {
	hosts := []string{r.Host}
	if o.Public != nil {
		hosts = append(hosts, o.Public.Host)
	}
	if h := o.host(r); h != r.Host {
		hosts = append(hosts, h)
	}
	return hosts
}

// scheme is the request's scheme: a trusted proxy's X-Forwarded-Proto,
// else https over TLS and http without.
func (o Origin) scheme(r *http.Request) string {
	if o.fromTrusted(r) {
		switch p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p {
		case "http", "https":
			return p
		}
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// host is the request's host: a trusted proxy's X-Forwarded-Host when it
// is a valid host[:port], else the Host header.
func (o Origin) host(r *http.Request) string {
	if o.fromTrusted(r) {
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
			return h
		}
	}
	return r.Host
}

// fromTrusted reports whether r's peer is a trusted proxy.
func (o Origin) fromTrusted(r *http.Request) bool {
	if len(o.Trusted) == 0 {
		return false
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := peer.Addr().Unmap()
	return slices.ContainsFunc(o.Trusted, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// firstValue is the first of a header's comma-separated values: the one
// the proxy nearest the client set.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// validHost reports whether h is a host[:port] and nothing more.
func validHost(h string) bool {
	if h == "" || strings.ContainsAny(h, "/?#@\\ \t") {
		return false
	}
	u, err := url.Parse("//" + h)
	return err == nil && u.Host == h && u.Hostname() != ""
}
