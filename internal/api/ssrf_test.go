package api_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// fakeResolver answers from a map; a name not in it does not resolve.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if addrs, ok := f[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// With production settings, a destination whose host is or resolves to a
// non-public address is refused at creation with the address's class, and
// nothing is stored.
func TestDestinationURLRefusesNonPublicHosts(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true, strictURLs: true,
		allowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		resolver: fakeResolver{
			"rebind.example.com":   {netip.MustParseAddr("127.0.0.1")},
			"mixed.example.com":    {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("fd00::1")},
			"public.example.com":   {netip.MustParseAddr("93.184.216.34")},
			"internal.example.com": {netip.MustParseAddr("10.1.9.9")},
		}})
	refused := []struct {
		url, class string
	}{
		{"https://127.0.0.1/", "loopback"},
		{"https://[::1]/", "loopback"},
		{"https://10.0.0.1/", "private"},
		{"https://169.254.169.254/latest/meta-data/", "metadata"},
		{"https://[::ffff:127.0.0.1]/", "loopback"},
		{"https://[fe80::1]/", "link-local"},
		{"https://100.64.0.1/", "CGNAT"},
		{"https://0.0.0.0/", "unspecified"},
		{"https://localhost:8443/", "loopback"},
		{"https://rebind.example.com/hooks", "loopback"},
		{"https://mixed.example.com/hooks", "private"},
	}
	for _, tt := range refused {
		msg := b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": sluice.NewID("dst-"), "url": tt.url}).
			wantError(t, http.StatusBadRequest, "invalid")
		if !strings.HasPrefix(msg, "url: ") || !strings.Contains(msg, "("+tt.class+")") {
			t.Errorf("url %q: message %q, want a url error naming %q", tt.url, msg, tt.class)
		}
		if strings.Contains(msg, strings.TrimSuffix(strings.TrimPrefix(tt.url, "https://"), "/")) {
			t.Errorf("url %q: message %q echoes the URL", tt.url, msg)
		}
	}
	var list struct{ Data []destination }
	b.do(t, "GET", "/v1/destinations", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 0 {
		t.Fatalf("%d destinations stored after refusals, want 0", len(list.Data))
	}

	accepted := []string{
		"https://93.184.216.34/hooks",
		"https://[2606:4700::1111]/hooks",
		"https://public.example.com/hooks",
		"https://not-yet.example.com/hooks", // does not resolve yet: accepted
		"https://10.1.2.3/hooks",            // in --allowed-destination-cidrs
		"https://internal.example.com/hooks",
	}
	for _, u := range accepted {
		b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": sluice.NewID("dst-"), "url": u}).want(t, http.StatusCreated, nil)
	}

	// Changing the URL is checked the same way.
	var d destination
	b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": sluice.NewID("dst-"), "url": "https://93.184.216.35/"}).
		want(t, http.StatusCreated, &d)
	b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{"url": "https://rebind.example.com/"}).
		wantError(t, http.StatusBadRequest, "invalid")
}

// --allow-private-destinations lifts the check: development and tests.
func TestDestinationURLAllowPrivate(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true,
		resolver: fakeResolver{"rebind.example.com": {netip.MustParseAddr("127.0.0.1")}}})
	for _, u := range []string{"https://127.0.0.1/", "http://10.0.0.1:8080/", "https://rebind.example.com/", "https://localhost/"} {
		b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": sluice.NewID("dst-"), "url": u}).want(t, http.StatusCreated, nil)
	}
}
