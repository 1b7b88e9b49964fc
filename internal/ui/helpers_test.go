package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
	"github.com/sluicehq/sluice/internal/ui"
)

// testBundle is the dashboard and the customers' portal beside the JSON
// API, as sluice serve mounts them, over a real SQLite store, with
// production URL rules (the range 10.1.0.0/16 allowed) and a resolver that
// never asks real DNS. The API is there to set up data and to compare the
// dashboard's answers with its own.
type testBundle struct {
	store    *engine.Store
	metrics  *metrics.Metrics
	srv      *httptest.Server
	operator string       // token of an admin key of the tenant
	wakes    atomic.Int32 // calls of the dashboard's Wake
	logs     *testlog.Buffer
}

// fakeResolver answers from a map; a name not in it does not resolve.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if addrs, ok := f[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func setup(t *testing.T) *testBundle { return setupAt(t, nil) }

// setupAt is setup with now the clock of the store, the API and the
// dashboard; nil: time.Now.
func setupAt(t *testing.T, now func() time.Time) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{logs: &testlog.Buffer{}}
	logger := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.store = testkit.SQLiteStore(t, testkit.StoreOptions{Logger: logger, Now: now})
	b.operator = sluice.NewToken()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "operator", Role: sluice.RoleAdmin,
		Operator: true, TokenHash: sluice.HashToken(b.operator)}
	if err := b.store.CreateTenant(ctx, ten, key); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	b.metrics = metrics.New(metrics.Config{Store: b.store, Logger: logger})
	allowed := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	resolver := fakeResolver{"rebind.example.com": {netip.MustParseAddr("127.0.0.1")}}
	handler := api.New(api.Config{Store: b.store, Logger: logger, AllowedDestinationCIDRs: allowed,
		Resolver: resolver, Metrics: b.metrics, DetectEmails: true, Now: now})
	pages := ui.Settings{Logger: logger, Policy: safehttp.Policy{Allowed: allowed}, Resolver: resolver,
		Wake: func() { b.wakes.Add(1) }, Now: now}
	handler.Handle("/ui/", ui.New(ui.Config{Store: b.store, Settings: pages, Metrics: b.metrics}))
	handler.Handle("/portal/", ui.NewPortal(ui.PortalConfig{Store: b.store, Settings: pages}))
	b.srv = httptest.NewServer(handler)
	t.Cleanup(b.srv.Close)
	return b
}

// call calls the JSON API with token, decoding a JSON answer into out when
// it is not nil, and returns the status and the raw body.
func (b *testBundle) call(t *testing.T, method, path, token string, body, out any) (int, []byte) {
	t.Helper()
	var rd bytes.Buffer
	if body != nil {
		enc := json.NewEncoder(&rd)
		enc.SetEscapeHTML(false) // payloads go as they are
		if err := enc.Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, b.srv.URL+path, &rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return res.StatusCode, raw
}

// apiError is the message of an API error answer.
func apiError(t *testing.T, raw []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Message string }
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an API error: %s", raw)
	}
	return e.Error.Message
}

// viewer creates a viewer key and returns its id and token.
func (b *testBundle) viewer(t *testing.T) (id, token string) {
	t.Helper()
	var k struct{ ID, Token string }
	if code, raw := b.call(t, "POST", "/v1/keys", b.operator, map[string]any{"name": "viewer", "role": "viewer"}, &k); code != http.StatusCreated {
		t.Fatalf("create viewer key: %d %s", code, raw)
	}
	return k.ID, k.Token
}

// publish publishes an event through the API and returns its id.
func (b *testBundle) publish(t *testing.T, body map[string]any) string {
	t.Helper()
	var ev struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/events", b.operator, body, &ev); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, raw)
	}
	return ev.ID
}

// audit returns the tenant's audit log, newest first.
func (b *testBundle) audit(t *testing.T) []*sluice.AuditEntry {
	t.Helper()
	var key *sluice.APIKey
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := b.store.AuditLog(context.Background(), key.TenantID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// browser is a signed-in dashboard session: a client that keeps cookies
// and does not follow redirects, so a test sees where a form sends it.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

// signIn signs in with token as a client that is no browser may.
func (b *testBundle) signIn(t *testing.T, token string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	br := &browser{t: t, base: b.srv.URL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, err := br.client.PostForm(b.srv.URL+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/" {
		t.Fatalf("sign in: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	return br
}

// get fetches a page and returns its status and body.
func (br *browser) get(path string) (int, string) {
	br.t.Helper()
	res, err := br.client.Get(br.base + path)
	if err != nil {
		br.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		br.t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

// post submits a form with the session's CSRF token, read from the
// privacy page as a browser would from any page.
func (br *browser) post(path string, form url.Values) *http.Response {
	br.t.Helper()
	_, page := br.get("/ui/privacy")
	_, after, ok := strings.Cut(page, `name="csrf" value="`)
	if !ok {
		br.t.Fatal("no CSRF token on the privacy page")
	}
	csrf, _, _ := strings.Cut(after, `"`)
	form.Set("csrf", csrf)
	res, err := br.client.PostForm(br.base+path, form)
	if err != nil {
		br.t.Fatal(err)
	}
	br.t.Cleanup(func() { res.Body.Close() })
	return res
}

// flash is the one-line outcome a form redirected with, read as the
// browser that posted it reads it: from the page it was sent to, which
// takes it from the session. "" when the form did not redirect, or the
// page shows none.
func flash(t *testing.T, res *http.Response) string {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		return ""
	}
	to, err := res.Request.URL.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if to.RawQuery != "" {
		t.Errorf("the form redirected to %s: a query, where the outcome should be in the session", to)
	}
	req, err := http.NewRequest(http.MethodGet, to.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header["Cookie"] = res.Request.Header["Cookie"] // the session the form was posted in
	next, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Body.Close()
	return flashOf(readBody(t, next))
}

// flashOf is the flash message a page shows, "" when it shows none.
func flashOf(page string) string {
	_, after, ok := strings.Cut(page, `<p class="flash" role="status">`)
	if !ok {
		return ""
	}
	message, _, _ := strings.Cut(after, "</p>")
	return html.UnescapeString(message)
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
