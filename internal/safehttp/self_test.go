package safehttp_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/safehttp"
)

// A destination that leads back to the gateway is refused even where
// private destinations are allowed: by its listen address, by a name that
// resolves there, and by the Host the gateway was reached by.
func TestSelfRefused(t *testing.T) {
	t.Parallel()
	dns := fakeResolver{"gw.internal": {"10.0.0.5"}, "other.internal": {"10.0.0.6"}}
	loopback := safehttp.Self{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080")}}
	anywhere := safehttp.Self{Listen: []netip.AddrPort{netip.MustParseAddrPort("[::]:8080")}}
	internal := safehttp.Self{Listen: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.5:9000")}}
	proxied := safehttp.Self{}.WithHost("Hooks.Example.com")
	dev := safehttp.Self{}.WithHost("localhost:8080")
	tests := []struct {
		name string
		self safehttp.Self
		url  string
		loop bool
	}{
		{"listen address", loopback, "http://127.0.0.1:8080/in/src_1", true},
		{"localhost at the port", loopback, "http://localhost:8080/in/src_1", true},
		{"another port", loopback, "http://127.0.0.1:8081/hooks", false},
		{"listen address spelt in hex", loopback, "http://0x7f000001:8080/in/src_1", true},
		{"listen address spelt short", loopback, "http://127.1:8080/in/src_1", true},
		{"another loopback address", loopback, "http://127.0.0.2:8080/hooks", false},
		{"unspecified listener, loopback", anywhere, "http://127.0.0.1:8080/x", true},
		{"unspecified listener, IPv6 loopback", anywhere, "http://[::1]:8080/x", true},
		{"unspecified listener, another port", anywhere, "http://127.0.0.1:3000/x", false},
		{"name resolving to the listener", internal, "http://gw.internal:9000/in/src_1", true},
		{"name resolving elsewhere", internal, "http://other.internal:9000/x", false},
		{"public host behind a proxy", proxied, "https://hooks.example.com/in/src_1", true},
		{"public host, trailing dot", proxied, "https://hooks.example.com./in/src_1", true},
		{"public host, port 80", proxied, "http://hooks.example.com:80/x", true},
		{"public host, another port", proxied, "https://hooks.example.com:8443/x", false},
		{"another host", proxied, "https://api.example.com/x", false},
		{"host with a port", dev, "http://localhost:8080/in/src_1", true},
		{"host with a port, receiver beside it", dev, "http://localhost:3000/hooks", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := safehttp.Policy{AllowPrivate: true, Self: tc.self}
			err := p.CheckDestinationURL(context.Background(), dns, tc.url)
			if got := err != nil && strings.Contains(err.Error(), "loop"); got != tc.loop || (err != nil && !got) {
				t.Fatalf("CheckDestinationURL(%s) = %v; want a loop refusal: %v", tc.url, err, tc.loop)
			}
			if err != nil && strings.Contains(err.Error(), tc.url) {
				t.Fatalf("the error echoes the URL: %v", err)
			}
		})
	}
}
