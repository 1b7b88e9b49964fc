package safehttp

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Self is how the gateway itself is reached. A destination there would
// turn every delivery into a new event of the same gateway: a loop that
// multiplies events with each pass, which the policy refuses at creation
// whatever else it allows.
type Self struct {
	// Listen are the addresses the gateway listens on. An unspecified
	// address (0.0.0.0, ::) stands for every address of this machine at
	// its port.
	Listen []netip.AddrPort
	// Hosts are the host[:port] names the gateway is reached by, as a
	// request's Host header gives them; one without a port stands for
	// ports 80 and 443, where a proxy in front of it would listen.
	Hosts []string
}

// WithHost returns s with hosts, such as a request's Host header, among
// its Hosts.
func (s Self) WithHost(hosts ...string) Self {
	s.Hosts = slices.Clip(s.Hosts)
	for _, h := range hosts {
		if h != "" {
			s.Hosts = append(s.Hosts, h)
		}
	}
	return s
}

// isSelf reports whether the absolute URL u leads to the gateway: its host
// and port are one of s.Hosts, or one of addrs, the addresses its host
// stands for (resolveHost), is an address the gateway listens on at that
// port.
func (s Self) isSelf(u *url.URL, addrs []netip.Addr) bool {
	host, _, _ := hostAddr(u.Hostname())
	port := urlPort(u)
	if port == 0 {
		return false
	}
	for _, h := range s.Hosts {
		if name, p, ok := splitHost(h); ok && name == host && (p == port || p == 0 && (port == 80 || port == 443)) {
			return true
		}
	}
	for _, a := range addrs {
		if s.listensOn(netip.AddrPortFrom(a.WithZone("").Unmap(), port)) {
			return true
		}
	}
	return false
}

// listensOn reports whether the gateway listens on ap, either on its very
// address or on the unspecified address at its port when ap's address is
// one of this machine's.
func (s Self) listensOn(ap netip.AddrPort) bool {
	for _, l := range s.Listen {
		switch {
		case l.Port() != ap.Port():
		case l.Addr().Unmap() == ap.Addr():
			return true
		case l.Addr().IsUnspecified() && isLocal(ap.Addr()):
			return true
		}
	}
	return false
}

// isLocal reports whether addr belongs to this machine: loopback,
// unspecified (which reaches the local host on Linux), or an address of
// one of its interfaces.
func isLocal(addr netip.Addr) bool {
	if addr.IsLoopback() || addr.IsUnspecified() {
		return true
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap() == addr {
			return true
		}
	}
	return false
}

// urlPort is u's port, explicit or its scheme's; 0 when neither says.
func urlPort(u *url.URL) uint16 {
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return 0
		}
		return uint16(n)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// splitHost splits a Host header into its lower-cased name, without
// brackets, and its port (0 when it has none).
func splitHost(h string) (name string, port uint16, ok bool) {
	u, err := url.Parse("//" + h)
	if err != nil || u.Hostname() == "" {
		return "", 0, false
	}
	name = strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if u.Port() == "" {
		return name, 0, true
	}
	n, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return "", 0, false
	}
	return name, uint16(n), true
}
