package safehttp_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/safehttp"
)

// funcResolver answers lookups with its function.
type funcResolver struct {
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

func (f funcResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	return f.lookup(ctx, host)
}

func TestCheckDestinationURL(t *testing.T) {
	t.Parallel()
	strict := safehttp.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	private := safehttp.Policy{AllowPrivate: true}
	dns := fakeResolver{
		"public.example.com":   {"93.184.216.34"},
		"rebind.example.com":   {"127.0.0.1"},
		"mixed.example.com":    {"93.184.216.34", "fd00::1"},
		"internal.example.com": {"10.1.9.9"},
		"meta.example.com":     {"169.254.169.254"},
	}
	const (
		notHTTPS    = "invalid: url: must be an absolute https URL"
		plainHTTP   = "invalid: url: must use https (http only with --allow-private-destinations or a host in --allowed-destination-cidrs)"
		credentials = "invalid: url: must not carry credentials"
	)
	tests := []struct {
		name   string
		policy safehttp.Policy
		url    string
		want   string
	}{
		{"https", strict, "https://hooks.example.com/x?y=1", ""},
		{"scheme in capitals", strict, "HTTPS://hooks.example.com", ""},
		{"public address", strict, "https://93.184.216.34/hooks", ""},
		{"public IPv6", strict, "https://[2606:4700::1111]/hooks", ""},
		{"resolves to public", strict, "https://public.example.com/hooks", ""},
		{"does not resolve yet", strict, "https://not-yet.example.com/hooks", ""},
		{"address in an allowed range", strict, "https://10.1.2.3/hooks", ""},
		{"resolves into an allowed range", strict, "https://internal.example.com/hooks", ""},
		{"http to an allowed range", strict, "http://10.1.2.3:8080/x", ""},
		{"http", strict, "http://hooks.example.com/x", plainHTTP},
		{"http to loopback", strict, "http://127.0.0.1:9000/x", plainHTTP},
		{"http outside the allowed range", strict, "http://10.2.0.1/x", plainHTTP},
		{"credentials", strict, "https://user:pw@hooks.example.com", credentials},
		{"no host", strict, "https:///nohost", notHTTPS},
		{"opaque", strict, "mailto:ops@example.com", notHTTPS},
		{"relative", strict, "/relative", notHTTPS},
		{"empty", strict, "", notHTTPS},
		{"ftp", strict, "ftp://files.example.com/", notHTTPS},
		{"unparsable", strict, "https://exa mple.com/%zz", notHTTPS},
		{"too long", strict, "https://hooks.example.com/" + strings.Repeat("a", 2048), "invalid: url: at most 2048 bytes"},
		{"at the limit", strict, "https://hooks.example.com/" + strings.Repeat("a", 2048-26), ""},
		{"loopback", strict, "https://127.0.0.1/",
			"invalid: url: host is a non-public address (loopback); allow its range with --allowed-destination-cidrs"},
		{"IPv6 loopback", strict, "https://[::1]/",
			"invalid: url: host is a non-public address (loopback); allow its range with --allowed-destination-cidrs"},
		{"mapped loopback", strict, "https://[::ffff:127.0.0.1]/",
			"invalid: url: host is a non-public address (loopback); allow its range with --allowed-destination-cidrs"},
		{"private", strict, "https://10.0.0.1/",
			"invalid: url: host is a non-public address (private); allow its range with --allowed-destination-cidrs"},
		{"metadata", strict, "https://169.254.169.254/latest/meta-data/",
			"invalid: url: host is a non-public address (metadata); allow its range with --allowed-destination-cidrs"},
		{"CGNAT", strict, "https://100.64.0.1/",
			"invalid: url: host is a non-public address (CGNAT); allow its range with --allowed-destination-cidrs"},
		{"localhost", strict, "https://localhost:8443/",
			"invalid: url: host resolves to a non-public address (loopback); allow its range with --allowed-destination-cidrs"},
		{"resolves to loopback", strict, "https://rebind.example.com/hooks",
			"invalid: url: host resolves to a non-public address (loopback); allow its range with --allowed-destination-cidrs"},
		{"one address of several private", strict, "https://mixed.example.com/hooks",
			"invalid: url: host resolves to a non-public address (private); allow its range with --allowed-destination-cidrs"},
		{"resolves to metadata", strict, "https://meta.example.com/",
			"invalid: url: host resolves to a non-public address (metadata); allow its range with --allowed-destination-cidrs"},
		{"private allowed: loopback", private, "https://127.0.0.1/", ""},
		{"private allowed: http", private, "http://10.0.0.1:8080/", ""},
		{"private allowed: resolves to loopback", private, "https://rebind.example.com/", ""},
		{"private allowed: still no credentials", private, "http://u:p@127.0.0.1/", credentials},
		{"private allowed: still absolute", private, "127.0.0.1:8080", notHTTPS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := errText(tt.policy.CheckDestinationURL(context.Background(), dns, tt.url))
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A lookup that does not answer within its bound reads as a name that does
// not resolve yet, which is accepted: the dialer checks again.
func TestCheckDestinationURLBoundsTheLookup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller has gone: the lookup ends at once
	var asked bool
	slow := funcResolver{lookup: func(ctx context.Context, _ string) ([]netip.Addr, error) {
		asked = true
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	err := safehttp.Policy{}.CheckDestinationURL(ctx, slow, "https://slow.example.com/")
	if got := errText(err); got != "" || !asked {
		t.Errorf("got %q (asked %v), want the name accepted after asking", got, asked)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return sluice.ErrorCode(err) + ": " + sluice.ErrorMessage(err)
}

// A host is read as the HTTP client and the system resolver will read it:
// IDNA-mapped, then as an address in any form inet_aton accepts. Names that
// are no address in any form still go to the resolver.
func TestCheckDestinationURLCanonicalHost(t *testing.T) {
	t.Parallel()
	dns := fakeResolver{
		"public.example.com":     {"93.184.216.34"},
		"rebind.example.com":     {"127.0.0.1"},
		"0x7f000001.example.com": {"93.184.216.34"},
		"127.0.0.1.example.com":  {"127.0.0.1"},
		"256.0.0.1":              {"93.184.216.34"}, // not an address in any form: a name
		"1.2.3.4.5":              {"10.0.0.1"},
	}
	is := func(class string) string {
		return "invalid: url: host is a non-public address (" + class + "); allow its range with --allowed-destination-cidrs"
	}
	resolvesTo := func(class string) string {
		return "invalid: url: host resolves to a non-public address (" + class + "); allow its range with --allowed-destination-cidrs"
	}
	tests := []struct {
		host string
		want string
	}{
		// inet_aton forms of loopback and other blocked addresses.
		{"0x7f000001", is("loopback")},
		{"0X7F000001", is("loopback")},
		{"2130706433", is("loopback")},
		{"017700000001", is("loopback")},
		{"0177.0.0.1", is("loopback")},
		{"0x7f.1", is("loopback")},
		{"127.1", is("loopback")},
		{"127.0.1", is("loopback")},
		{"127.0.0.01", is("loopback")},
		{"127.1.", is("loopback")},
		{"0", is("unspecified")},
		{"0x0", is("unspecified")},
		{"00", is("unspecified")},
		{"0xa9fea9fe", is("metadata")},
		{"169.254.43518", is("metadata")},
		{"0251.0376.0251.0376", is("metadata")},
		{"0300.0250.1", is("private")},
		{"10.1", is("private")},
		{"0xffffffff", is("reserved")},
		// IDNA mapping: compatibility digits, ideographic full stops,
		// ignored code points.
		{"①②⑦.⓪.⓪.①", is("loopback")},
		{"１２７．０．０．１", is("loopback")},
		{"127。0。0。1", is("loopback")},
		{"127｡0｡0｡1", is("loopback")},
		{"０ｘ７Ｆ０００００１", is("loopback")},
		{"①②⑦.①", is("loopback")},
		{"127\u00ad.0.0.1", is("loopback")},
		{"127.0.0.1\u200b", is("loopback")},
		{"⑯⑨.②⑤④.⑯⑨.②⑤④", is("metadata")},
		// IPv6 forms that embed an IPv4 address.
		{"[::127.0.0.1]", is("loopback")},
		{"[::7f00:1]", is("loopback")},
		{"[::ffff:0:127.0.0.1]", is("loopback")},
		{"[::ffff:0:a9fe:a9fe]", is("metadata")},
		{"[::10.0.0.1]", is("private")},
		// Names still go to the resolver, in their mapped form.
		{"ＲＥＢＩＮＤ.example.com", resolvesTo("loopback")},
		{"127.0.0.1.example.com", resolvesTo("loopback")},
		{"1.2.3.4.5", resolvesTo("private")},
		{"ｐｕｂｌｉｃ.example.com", ""},
		{"0x7f000001.example.com", ""},
		{"256.0.0.1", ""},
		{"not-yet.example.com", ""},
		// Public addresses in the same forms are accepted.
		{"0x08080808", ""},
		{"134744072", ""},
		{"010.010.010.010", ""},
		{"8.8.2056", ""},
		{"0127.0.0.1", ""}, // octal 0127 is 87: 87.0.0.1
		{"⑧.⑧.⑧.⑧", ""},
		{"[::8.8.8.8]", ""},
		{"[::ffff:0:8.8.8.8]", ""},
		// Not addresses, and not resolving: accepted as today.
		{"0x100000000", ""},
		{"4294967296", ""},
		{"08.0.0.1", ""},
		{"0x", ""},
		{"127.0.0.256", ""},
		{"127..1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			err := safehttp.Policy{}.CheckDestinationURL(context.Background(), dns, "https://"+tt.host+"/hooks")
			if got := errText(err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// http is allowed to an address in an allowed range in whatever form the
// address is written.
func TestCheckDestinationURLCanonicalAllowed(t *testing.T) {
	t.Parallel()
	p := safehttp.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	for _, host := range []string{"10.1.2.3", "0x0a010203", "10.1.515", "１０.１.２.３"} {
		if err := p.CheckDestinationURL(context.Background(), fakeResolver{}, "http://"+host+"/"); err != nil {
			t.Errorf("http://%s: %v, want nil", host, err)
		}
	}
}
