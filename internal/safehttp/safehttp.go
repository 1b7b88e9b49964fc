// Package safehttp keeps outgoing requests away from addresses a webhook
// must not reach: loopback, private networks, link-local, cloud metadata
// endpoints and the other ranges that are not the public internet. The check
// runs where the connection is made, on the address actually dialed, so a
// name that resolved to a public address when it was checked and to a
// private one later (DNS rebinding) is still refused.
package safehttp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
)

// ErrBlocked is wrapped by every error for an address the policy refuses.
var ErrBlocked = errors.New("safehttp: address not allowed")

// BlockedError says which class of address was refused. Its text names the
// class only, never the address or the URL it came from.
type BlockedError struct {
	// Class is one of "loopback", "private", "link-local", "CGNAT",
	// "multicast", "unspecified", "documentation", "metadata", "reserved".
	Class string
}

func (e *BlockedError) Error() string { return "safehttp: " + e.Class + " address not allowed" }

// Is makes errors.Is(err, ErrBlocked) true for every BlockedError.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// blockedRange is a range of addresses and the class reported for it.
type blockedRange struct {
	prefix netip.Prefix
	class  string
}

// blocked lists the ranges refused by default. The first match names the
// class, so more specific entries (metadata) come before their enclosing
// range. IPv4-mapped IPv6 addresses are unmapped, and IPv4-compatible,
// SIIT, NAT64, 6to4 and Teredo addresses have their embedded IPv4 address
// extracted, before this table is consulted.
var blocked = []blockedRange{
	// Cloud metadata endpoints first: they sit inside link-local and ULA.
	{netip.MustParsePrefix("169.254.169.254/32"), "metadata"}, // AWS, GCP, Azure, OpenStack, …
	{netip.MustParsePrefix("fd00:ec2::254/128"), "metadata"},  // AWS over IPv6

	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},         // "this network"; 0.0.0.0 reaches the local host on Linux
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},            // RFC 1918
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT"},           // RFC 6598 shared address space
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},          // RFC 1122
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},     // RFC 3927
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},         // RFC 1918
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},         // RFC 6890 IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},    // RFC 5737 TEST-NET-1
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},        // RFC 1918
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},        // RFC 2544 benchmarking
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"}, // RFC 5737 TEST-NET-2
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},  // RFC 5737 TEST-NET-3
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},         // RFC 5771
	{netip.MustParsePrefix("255.255.255.255/32"), "reserved"},   // limited broadcast (also in 240/4)
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},          // RFC 1112 future use

	// IPv6.
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private"},            // RFC 4193 unique local
	{netip.MustParsePrefix("fe80::/10"), "link-local"},        // RFC 4291
	{netip.MustParsePrefix("ff00::/8"), "multicast"},          // RFC 4291
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"}, // RFC 3849
}

// Prefixes of IPv6 addresses that stand for an IPv4 address: a connection
// to one reaches that IPv4 address through a translator or relay, so that
// address is what counts.
var (
	ipv4Compat = netip.MustParsePrefix("::/96")           // RFC 4291 §2.5.5.1, deprecated: the last 32 bits, but for :: and ::1
	siit       = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 IPv4-translated (SIIT): the last 32 bits
	nat64      = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052 well-known: the last 32 bits
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215 local use, RFC 6052 /48 layout
	sixToFour  = netip.MustParsePrefix("2002::/16")       // RFC 3056: bits 16 to 47
	teredo     = netip.MustParsePrefix("2001::/32")       // RFC 4380: the client, inverted, in the last 32 bits
)

// embeddedIPv4 returns the IPv4 address an IPv6 address of a translation
// or tunnelling prefix stands for, and addr itself for any other address.
func embeddedIPv4(addr netip.Addr) netip.Addr {
	b := addr.As16()
	switch {
	case !addr.Is6():
		return addr
	case ipv4Compat.Contains(addr):
		// :: and ::1 are IPv6's own unspecified and loopback addresses, not
		// 0.0.0.0 and 0.0.0.1, and keep their own entries in the table.
		if addr == netip.IPv6Unspecified() || addr == netip.IPv6Loopback() {
			return addr
		}
		return netip.AddrFrom4([4]byte(b[12:16]))
	case siit.Contains(addr), nat64.Contains(addr):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case nat64Local.Contains(addr):
		return netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]}) // byte 8 is the reserved "u" octet
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6]))
	case teredo.Contains(addr):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
	}
	return addr
}

// Policy decides which addresses outgoing connections may reach. The zero
// Policy refuses every range in the blocked table.
type Policy struct {
	// AllowPrivate lifts every check, metadata addresses included: it is
	// for development and tests, where destinations run on loopback or a
	// private network (--allow-private-destinations).
	AllowPrivate bool
	// Allowed are ranges that may be reached although they are blocked
	// (--allowed-destination-cidrs). A range lifts the check for the
	// addresses inside it only, whatever their class.
	Allowed []netip.Prefix
	// Self is how this gateway is reached: CheckDestinationURL refuses
	// a destination there even when AllowPrivate lifts every other check.
	Self Self
}

// Check returns nil if addr may be reached and a *BlockedError (wrapping
// ErrBlocked) naming the address's class if not. An IPv4-mapped IPv6 address
// is judged as its IPv4 address; an IPv4-compatible (::a.b.c.d), SIIT
// (::ffff:0:a.b.c.d), NAT64, 6to4 or Teredo address as the IPv4 address it
// embeds.
func (p Policy) Check(addr netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	if !addr.IsValid() {
		return &BlockedError{Class: "unspecified"}
	}
	addr = addr.WithZone("").Unmap()
	target := embeddedIPv4(addr)
	class := classify(target)
	if class == "" {
		return nil
	}
	inAllowed := func(pr netip.Prefix) bool { return pr.Contains(addr) || pr.Contains(target) }
	if slices.ContainsFunc(p.Allowed, inAllowed) {
		return nil
	}
	return &BlockedError{Class: class}
}

// classify returns the class of the first blocked range holding addr, or ""
// for an address on the public internet.
func classify(addr netip.Addr) string {
	for _, r := range blocked {
		if r.prefix.Contains(addr) {
			return r.class
		}
	}
	return ""
}

// Resolver looks up a host's addresses. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckHost is the check at configuration time, before any connection. The
// host is first read as the HTTP client and the system resolver will read
// it: mapped as IDNA lookup maps it (fullwidth and circled digits, the
// ideographic full stops), then taken as an address if it is one in any
// form getaddrinfo accepts, inet_aton's included ("0x7f000001", "127.1",
// "0177.0.0.1"). An address is checked as it is; "localhost" and names
// under ".localhost" are loopback without asking DNS; any other name is
// resolved with r, in its mapped form, and the host is refused if any of
// its addresses is. A name that does not resolve (yet) is accepted:
// DialContext checks again on every connection, so accepting it opens
// nothing. The error is a *BlockedError.
func (p Policy) CheckHost(ctx context.Context, r Resolver, host string) error {
	if p.AllowPrivate {
		return nil
	}
	return p.checkAll(resolveHost(ctx, r, host))
}

// checkAll returns the error of the first address the policy refuses.
func (p Policy) checkAll(addrs []netip.Addr) error {
	for _, addr := range addrs {
		if err := p.Check(addr); err != nil {
			return err
		}
	}
	return nil
}

// resolveHost returns the addresses host stands for: the address itself
// in any form hostAddr reads, loopback for "localhost" and names under
// ".localhost" without asking DNS, else what r resolves; none for a name
// that does not resolve (yet).
func resolveHost(ctx context.Context, r Resolver, host string) []netip.Addr {
	name, addr, isAddr := hostAddr(host)
	switch {
	case isAddr:
		return []netip.Addr{addr}
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		return []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	addrs, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return nil
	}
	return addrs
}

// DialContext returns a dial function for http.Transport that connects like
// base but refuses, with an error wrapping ErrBlocked, any address the
// policy does not allow. The check runs in the dialer's control hook, which
// sees the IP address and port of each socket about to connect, after name
// resolution: there is no gap between checking and connecting for DNS
// rebinding to use. base's own control hook, if any, still runs after the
// check. A nil base is a zero net.Dialer.
func (p Policy) DialContext(base *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	if base != nil {
		*d = *base
	}
	control, controlContext := d.Control, d.ControlContext
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := p.checkDialed(address); err != nil {
			return err
		}
		switch {
		case controlContext != nil:
			return controlContext(ctx, network, address, c)
		case control != nil:
			return control(network, address, c)
		}
		return nil
	}
	return d.DialContext
}

// checkDialed checks the "ip:port" the dialer is connecting to. Anything
// that is not an IP address and port is refused: fail closed.
func (p Policy) checkDialed(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		if p.AllowPrivate {
			return nil
		}
		return &BlockedError{Class: "reserved"}
	}
	return p.Check(ap.Addr())
}
