package safehttp

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Limits of the destination URL check.
const (
	// maxURLLen bounds a destination URL, in bytes.
	maxURLLen = 2048
	// lookupTimeout bounds the DNS lookup of a destination's host.
	lookupTimeout = 5 * time.Second
)

// CheckDestinationURL applies the address rules to a destination URL as a
// user gives it: an absolute https URL of at most 2048 bytes without
// credentials; http only when private destinations are allowed or the host
// is an address in an allowed range; and a host that is not, and does not
// resolve with r to, an address the policy refuses (see CheckHost). A name
// that does not resolve yet is accepted, and so is one whose lookup takes
// longer than five seconds: DialContext checks the address again on every
// connection (DNS rebinding). A URL that leads to the gateway itself
// (Policy.Self) is refused whatever the policy allows. It returns an
// EINVALID *sluice.Error naming the rule broken, never echoing the URL.
func (p Policy) CheckDestinationURL(ctx context.Context, r Resolver, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > maxURLLen:
		return sluice.Errorf(sluice.EINVALID, "url: at most %d bytes", maxURLLen)
	case err != nil || !u.IsAbs() || u.Opaque != "" || u.Hostname() == "":
		return sluice.Errorf(sluice.EINVALID, "url: must be an absolute https URL")
	case u.User != nil:
		return sluice.Errorf(sluice.EINVALID, "url: must not carry credentials")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !p.AllowPrivate && !p.allowsLiteral(u.Hostname()) {
			return sluice.Errorf(sluice.EINVALID,
				"url: must use https (http only with --allow-private-destinations or a host in --allowed-destination-cidrs)")
		}
	default:
		return sluice.Errorf(sluice.EINVALID, "url: must be an absolute https URL")
	}
	// The lookup is bounded, and ends with the caller's context: a slow
	// resolver answers as a name that does not resolve yet, which is
	// accepted.
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	// One lookup serves both checks.
	var addrs []netip.Addr
	if !p.AllowPrivate || len(p.Self.Listen) > 0 {
		addrs = resolveHost(ctx, r, u.Hostname())
	}
	if p.Self.isSelf(u, addrs) {
		return sluice.Errorf(sluice.EINVALID, "url: leads to this gateway itself; its deliveries would come back as new events (a loop)")
	}
	if p.AllowPrivate {
		return nil
	}
	err = p.checkAll(addrs)
	var blocked *BlockedError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &blocked):
		return sluice.Errorf(sluice.EINVALID, "url: host is not a public address")
	}
	verb := "resolves to"
	if _, _, isAddr := hostAddr(u.Hostname()); isAddr {
		verb = "is"
	}
	return sluice.Errorf(sluice.EINVALID,
		"url: host %s a non-public address (%s); allow its range with --allowed-destination-cidrs", verb, blocked.Class)
}

// allowsLiteral reports whether host is an IP address in an allowed range,
// in any form hostAddr reads as one.
func (p Policy) allowsLiteral(host string) bool {
	_, addr, isAddr := hostAddr(host)
	if !isAddr {
		return false
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(p.Allowed, func(pr netip.Prefix) bool { return pr.Contains(addr) })
}
