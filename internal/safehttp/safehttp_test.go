package safehttp_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/safehttp"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr  string
		class string // "" when allowed
	}{
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.1", "private"},
		{"100.64.0.1", "CGNAT"},
		{"100.127.255.254", "CGNAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "metadata"},
		{"169.254.1.1", "link-local"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.0.0.8", "reserved"},
		{"192.0.2.1", "documentation"},
		{"192.168.1.1", "private"},
		{"198.18.0.1", "reserved"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "reserved"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fd00:ec2::254", "metadata"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"ff02::1", "multicast"},
		{"2001:db8::1", "documentation"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:169.254.169.254", "metadata"},
		{"64:ff9b::7f00:1", "loopback"}, // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", "metadata"},
		{"64:ff9b::5db8:d822", ""},                           // NAT64 of 93.184.216.34
		{"64:ff9b:1:7f00:0:100::", "loopback"},               // local-use NAT64 of 127.0.0.1
		{"64:ff9b:1:a9fe:a9:fe00::", "metadata"},             // local-use NAT64 of 169.254.169.254
		{"64:ff9b:1:5db8:d8:2200::", ""},                     // local-use NAT64 of 93.184.216.34
		{"2002:7f00:1::1", "loopback"},                       // 6to4 of 127.0.0.1
		{"2002:a00:1::", "private"},                          // 6to4 of 10.0.0.1
		{"2002:5db8:d822::1", ""},                            // 6to4 of 93.184.216.34
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"}, // Teredo, client 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:a201:6ddd", ""},         // Teredo, client 93.254.146.34
		{"::127.0.0.1", "loopback"},                          // IPv4-compatible
		{"::a9fe:a9fe", "metadata"},                          // IPv4-compatible 169.254.169.254
		{"::10.0.0.1", "private"},                            // IPv4-compatible
		{"::0.0.0.2", "unspecified"},                         // IPv4-compatible 0.0.0.2, not :: or ::1
		{"::93.184.216.34", ""},                              // IPv4-compatible, public
		{"::ffff:0:127.0.0.1", "loopback"},                   // SIIT
		{"::ffff:0:a9fe:a9fe", "metadata"},                   // SIIT 169.254.169.254
		{"::ffff:0:192.168.1.1", "private"},                  // SIIT
		{"::ffff:0:93.184.216.34", ""},                       // SIIT, public
		{"::1:0:0:7f00:1", ""},                               // neither: public (unassigned, but not blocked)
		{"93.184.216.34", ""},
		{"8.8.8.8", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"::ffff:93.184.216.34", ""},
		{"2606:4700::1111", ""},
	}
	for _, tt := range tests {
		err := safehttp.Policy{}.Check(netip.MustParseAddr(tt.addr))
		if tt.class == "" {
			if err != nil {
				t.Errorf("Check(%s) = %v, want nil", tt.addr, err)
			}
			continue
		}
		var be *safehttp.BlockedError
		if !errors.As(err, &be) || be.Class != tt.class || !errors.Is(err, safehttp.ErrBlocked) {
			t.Errorf("Check(%s) = %v, want a %s BlockedError wrapping ErrBlocked", tt.addr, err, tt.class)
		}
	}
	if err := (safehttp.Policy{}).Check(netip.Addr{}); !errors.Is(err, safehttp.ErrBlocked) {
		t.Errorf("Check(invalid) = %v, want ErrBlocked", err)
	}
}

func TestCheckAllowed(t *testing.T) {
	t.Parallel()
	p := safehttp.Policy{Allowed: []netip.Prefix{
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("fd00:1::/32"),
	}}
	for addr, allowed := range map[string]bool{
		"10.1.2.3":          true,
		"::ffff:10.1.2.3":   true,
		"fd00:1::5":         true,
		"10.2.0.1":          false,
		"127.0.0.1":         false,
		"169.254.169.254":   false,
		"fd00:2::5":         false,
		"93.184.216.34":     true,
		"::ffff:127.0.0.1":  false,
		"::10.1.2.3":        true, // IPv4-compatible, judged and allowed as 10.1.2.3
		"::ffff:0:10.1.2.3": true, // SIIT, likewise
		"::10.2.0.1":        false,
	} {
		err := p.Check(netip.MustParseAddr(addr))
		if (err == nil) != allowed {
			t.Errorf("Check(%s) = %v, want allowed %v", addr, err, allowed)
		}
	}
}

func TestCheckAllowPrivate(t *testing.T) {
	t.Parallel()
	p := safehttp.Policy{AllowPrivate: true}
	for _, addr := range []string{"127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "fd00:ec2::254", "::ffff:127.0.0.1"} {
		if err := p.Check(netip.MustParseAddr(addr)); err != nil {
			t.Errorf("AllowPrivate: Check(%s) = %v, want nil", addr, err)
		}
	}
}

// fakeResolver answers from a map; a name not in it does not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestCheckHost(t *testing.T) {
	t.Parallel()
	r := fakeResolver{
		"public.test":   {"93.184.216.34", "2606:4700::1111"},
		"rebind.test":   {"127.0.0.1"},
		"mixed.test":    {"93.184.216.34", "10.0.0.1"},
		"metadata.test": {"169.254.169.254"},
	}
	tests := []struct {
		host  string
		class string // "" when accepted
	}{
		{"public.test", ""},
		{"unresolvable.test", ""}, // a name that does not resolve yet is accepted
		{"93.184.216.34", ""},
		{"[2606:4700::1111]", ""},
		{"rebind.test", "loopback"},
		{"mixed.test", "private"},
		{"metadata.test", "metadata"},
		{"localhost", "loopback"},
		{"LocalHost.", "loopback"},
		{"api.localhost", "loopback"},
		{"127.0.0.1", "loopback"},
		{"::1", "loopback"},
		{"[::ffff:127.0.0.1]", "loopback"},
		{"0x7f000001", "loopback"},
		{"127.1.", "loopback"},
		{"①②⑦.⓪.⓪.①", "loopback"},
		{"ＬＯＣＡＬＨＯＳＴ", "loopback"},
		{"Rebind.Test", "loopback"}, // looked up in its mapped form, rebind.test
		{"ＲＥＢＩＮＤ.ｔｅｓｔ", "loopback"},
		{"[::127.0.0.1]", "loopback"},
		{"[::ffff:0:127.0.0.1]", "loopback"},
	}
	for _, tt := range tests {
		err := safehttp.Policy{}.CheckHost(context.Background(), r, tt.host)
		var be *safehttp.BlockedError
		switch {
		case tt.class == "" && err != nil:
			t.Errorf("CheckHost(%q) = %v, want nil", tt.host, err)
		case tt.class != "" && (!errors.As(err, &be) || be.Class != tt.class):
			t.Errorf("CheckHost(%q) = %v, want a %s BlockedError", tt.host, err, tt.class)
		}
	}
	if err := (safehttp.Policy{AllowPrivate: true}).CheckHost(context.Background(), r, "rebind.test"); err != nil {
		t.Errorf("AllowPrivate: CheckHost(rebind.test) = %v, want nil", err)
	}
}

// listen returns the address of a real loopback listener that accepts and
// counts connections.
func listen(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- struct{}{}
			c.Close()
		}
	}()
	return ln.Addr().String(), ch
}

func TestDialContext(t *testing.T) {
	t.Parallel()
	addr, accepted := listen(t)
	dial := safehttp.Policy{}.DialContext(&net.Dialer{})
	conn, err := dial(context.Background(), "tcp", addr)
	if err == nil {
		conn.Close()
		t.Fatal("strict policy dialed a loopback address")
	}
	if !errors.Is(err, safehttp.ErrBlocked) {
		t.Errorf("dial error = %v, want one wrapping ErrBlocked", err)
	}
	// A name is resolved before the hook runs: the hook sees the IP.
	_, port, _ := net.SplitHostPort(addr)
	if _, err := dial(context.Background(), "tcp", net.JoinHostPort("localhost", port)); !errors.Is(err, safehttp.ErrBlocked) {
		t.Errorf("dial localhost error = %v, want one wrapping ErrBlocked", err)
	}

	conn, err = safehttp.Policy{AllowPrivate: true}.DialContext(nil)(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("AllowPrivate dial: %v", err)
	}
	conn.Close()
	<-accepted // the allowed connection arrives; the refused ones never did
	select {
	case <-accepted:
		t.Error("a refused dial reached the listener")
	default:
	}
}

// The control hook judges the IPv6 forms that embed an IPv4 address by
// that address. It runs before connect(2), so nothing is sent even where
// IPv6 has no route.
func TestDialContextEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	dial := safehttp.Policy{}.DialContext(&net.Dialer{})
	for _, addr := range []string{"[::127.0.0.1]:443", "[::ffff:0:127.0.0.1]:443", "[::ffff:127.0.0.1]:443", "[::a9fe:a9fe]:80"} {
		conn, err := dial(context.Background(), "tcp", addr)
		if err == nil {
			conn.Close()
		}
		if errors.Is(err, syscall.EAFNOSUPPORT) {
			t.Skip("no IPv6 sockets here")
		}
		if !errors.Is(err, safehttp.ErrBlocked) {
			t.Errorf("dial %s error = %v, want one wrapping ErrBlocked", addr, err)
		}
	}
}

func TestDialContextKeepsBaseControl(t *testing.T) {
	t.Parallel()
	addr, _ := listen(t)
	called := false
	base := &net.Dialer{Control: func(string, string, syscall.RawConn) error { called = true; return nil }}
	conn, err := safehttp.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.DialContext(base)(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial an allowed range: %v", err)
	}
	conn.Close()
	if !called {
		t.Error("the base dialer's Control hook did not run")
	}
}
