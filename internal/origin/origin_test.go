package origin_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/origin"
)

func TestBaseAndSecure(t *testing.T) {
	public, err := origin.ParsePublic("https://hooks.example.com/sluice/")
	if err != nil {
		t.Fatal(err)
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	request := func(peer string, tlsOn bool, header map[string]string) *http.Request {
		r := httptest.NewRequest("GET", "http://gw.internal:8080/v1/sources", nil)
		r.RemoteAddr = peer
		if tlsOn {
			r.TLS = &tls.ConnectionState{}
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		return r
	}
	forwarded := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
	for _, tc := range []struct {
		name   string
		o      origin.Origin
		r      *http.Request
		base   string
		secure bool
	}{
		{"plain", origin.Origin{}, request("192.0.2.1:5000", false, nil), "http://gw.internal:8080", false},
		{"TLS", origin.Origin{}, request("192.0.2.1:5000", true, nil), "https://gw.internal:8080", true},
		{"public URL wins", origin.Origin{Public: public, Trusted: proxies}, request("10.1.1.1:5000", false, forwarded),
			"https://hooks.example.com/sluice", true},
		{"trusted proxy", origin.Origin{Trusted: proxies}, request("10.1.1.1:5000", false, forwarded),
			"https://hooks.example.com", true},
		{"untrusted peer's headers ignored", origin.Origin{Trusted: proxies}, request("192.0.2.1:5000", false, forwarded),
			"http://gw.internal:8080", false},
		{"no proxy trusted", origin.Origin{}, request("10.1.1.1:5000", false, forwarded), "http://gw.internal:8080", false},
		{"first of several values", origin.Origin{Trusted: proxies}, request("10.1.1.1:5000", false,
			map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "a.example.com, b.internal"}),
			"https://a.example.com", true},
		{"malformed forwarded host", origin.Origin{Trusted: proxies}, request("10.1.1.1:5000", false,
			map[string]string{"X-Forwarded-Host": "evil.example.com/path"}), "http://gw.internal:8080", false},
		{"unknown forwarded scheme", origin.Origin{Trusted: proxies}, request("10.1.1.1:5000", true,
			map[string]string{"X-Forwarded-Proto": "gopher"}), "https://gw.internal:8080", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.Base(tc.r); got != tc.base {
				t.Errorf("Base = %q, want %q", got, tc.base)
			}
			if got := tc.o.Secure(tc.r); got != tc.secure {
				t.Errorf("Secure = %v, want %v", got, tc.secure)
			}
		})
	}
	hosts := origin.Origin{Public: public, Trusted: proxies}.Hosts(request("10.1.1.1:5000", false, forwarded))
	if !slices.Contains(hosts, "gw.internal:8080") || !slices.Contains(hosts, "hooks.example.com") {
		t.Errorf("Hosts = %v", hosts)
	}
}

func TestParsePublic(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://hooks.example.com":      true,
		"http://127.0.0.1:8080/":         true,
		"https://hooks.example.com/a/b/": true,
		"hooks.example.com":              false,
		"ftp://hooks.example.com":        false,
		"https://u:p@hooks.example.com":  false,
		"https://hooks.example.com/?a=1": false,
		"https://hooks.example.com/#top": false,
		"https://":                       false,
	} {
		if _, err := origin.ParsePublic(raw); (err == nil) != ok {
			t.Errorf("ParsePublic(%q): %v, want ok %v", raw, err, ok)
		}
	}
}
