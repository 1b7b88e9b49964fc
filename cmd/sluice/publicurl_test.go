package main_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// Behind a TLS-terminating proxy the gateway gives out the URLs clients
// reach it by: --public-url when set, else what a trusted proxy says in
// X-Forwarded-Proto and X-Forwarded-Host (an untrusted peer's say is
// ignored); the dashboard's cookies are Secure when that URL is https; and
// a destination at the public URL is refused as a loop.
func TestPublicURL(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	source := func(p *proc, header map[string]string) string {
		t.Helper()
		var src struct {
			IngestURL string `json:"ingest_url"`
		}
		if code := callHeaders("POST", p.url+"/v1/sources", token, header,
			map[string]any{"verification": map[string]any{"type": "none"}}, &src); code != http.StatusCreated {
			t.Fatalf("create source: %d", code)
		}
		return src.IngestURL
	}
	loginCookieSecure := func(p *proc, header map[string]string) bool {
		t.Helper()
		req, err := http.NewRequest("GET", p.url+"/ui/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if len(cookies) == 0 {
			t.Fatal("the sign-in page set no cookie")
		}
		return cookies[0].Secure
	}
	forwarded := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}

	public := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_PUBLIC_URL=https://gw.example.com/")
	if got := source(public, nil); !strings.HasPrefix(got, "https://gw.example.com/in/src_") {
		t.Fatalf("ingest_url %q, want it under the public URL", got)
	}
	if !loginCookieSecure(public, nil) {
		t.Fatal("the cookie is not Secure with an https public URL")
	}
	var refused struct{ Error struct{ Message string } }
	if code := call(t, "POST", public.url+"/v1/destinations", token,
		map[string]any{"name": "self", "url": "https://gw.example.com/in/src_x"}, &refused); code != http.StatusBadRequest ||
		!strings.Contains(refused.Error.Message, "loop") {
		t.Fatalf("a destination at the public URL: %d %+v", code, refused)
	}

	proxied := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_TRUSTED_PROXIES=127.0.0.0/8")
	if got := source(proxied, forwarded); !strings.HasPrefix(got, "https://hooks.example.com/in/src_") {
		t.Fatalf("ingest_url %q behind a trusted proxy", got)
	}
	if !loginCookieSecure(proxied, forwarded) || loginCookieSecure(proxied, nil) {
		t.Fatal("the cookie's Secure flag does not follow the trusted proxy's scheme")
	}

	direct := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	if got := source(direct, forwarded); !strings.HasPrefix(got, direct.url+"/in/src_") {
		t.Fatalf("ingest_url %q: an untrusted peer's X-Forwarded-* was believed", got)
	}
	if loginCookieSecure(direct, forwarded) {
		t.Fatal("an untrusted peer's X-Forwarded-Proto made the cookie Secure")
	}
}
