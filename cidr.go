package sluice

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ParseCIDR reads a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or a bare
// address, which means that one address (/32 or /128). The prefix is
// masked, so 10.1.2.3/8 reads as 10.0.0.0/8. Errors quote s, which is a
// network address, never a secret.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("has an empty entry")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or IP address (e.g. 10.0.0.0/8)", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
