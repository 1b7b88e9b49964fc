package ui_test

import (
	"context"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/testkit"
)

// portalBrowser is a browser signed in to a customer's portal: it keeps
// cookies and does not follow redirects.
type portalBrowser struct {
	t      *testing.T
	base   string
	client *http.Client
}

// portalLink makes a sign-in link of the tenant's portal for scope, as POST
// /v1/portal-sessions does (the store keeps only the token's hash), and
// returns the link's path and the portal session's id.
func (b *testBundle) portalLink(t *testing.T, tenantID string, scope sluice.PortalScope, linkTTL time.Duration) (path, id string) {
	t.Helper()
	token := sluice.NewToken()
	ps := &sluice.PortalSession{TenantID: tenantID, Scope: scope, LinkHash: sluice.HashToken(token),
		LinkTTL: linkTTL, TTL: time.Hour}
	ctx := sluice.WithActor(context.Background(), sluice.Actor{TenantID: tenantID, KeyID: b.operatorKey(t).ID})
	if err := b.store.CreatePortalSession(ctx, ps); err != nil {
		t.Fatalf("create portal session: %v", err)
	}
	return sluice.PortalSignInPath + token, ps.ID
}

// newPortalBrowser is a browser with no cookie yet.
func (b *testBundle) newPortalBrowser(t *testing.T) *portalBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &portalBrowser{t: t, base: b.srv.URL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// portal signs in to the customer's portal with a fresh link.
func (b *testBundle) portal(t *testing.T, scope sluice.PortalScope) (*portalBrowser, string) {
	t.Helper()
	link, id := b.portalLink(t, b.operatorKey(t).TenantID, scope, time.Minute)
	br := b.newPortalBrowser(t)
	if res := br.do("GET", link, nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/portal/" {
		t.Fatalf("sign in: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	return br, id
}

// do sends a request and returns the answer, its body read at cleanup.
func (br *portalBrowser) do(method, path string, form url.Values) *http.Response {
	br.t.Helper()
	var res *http.Response
	var err error
	if method == "GET" {
		res, err = br.client.Get(br.base + path)
	} else {
		res, err = br.client.PostForm(br.base+path, form)
	}
	if err != nil {
		br.t.Fatal(err)
	}
	br.t.Cleanup(func() { res.Body.Close() })
	return res
}

func (br *portalBrowser) get(path string) (int, string) {
	br.t.Helper()
	res := br.do("GET", path, nil)
	return res.StatusCode, readBody(br.t, res)
}

// post submits a form with the session's CSRF token, read from the
// portal's first page.
func (br *portalBrowser) post(path string, form url.Values) (int, string) {
	br.t.Helper()
	_, page := br.get("/portal/")
	csrf := between(page, `name="csrf" value="`, `"`)
	if csrf == "" {
		br.t.Fatal("no CSRF token on the portal's page")
	}
	form.Set("csrf", csrf)
	res := br.do("POST", path, form)
	return res.StatusCode, readBody(br.t, res)
}

// customerDestination stores a destination of the tenant's customer.
func (b *testBundle) customerDestination(t *testing.T, tenantID, customer, name string) *sluice.Destination {
	t.Helper()
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenantID, Name: name,
		URL: "https://10.1.0.9/" + name, EventTypes: []string{"*"}, Customer: customer, Secret: signature.NewSecret(),
		Enabled: true}
	if err := b.store.CreateDestination(context.Background(), d); err != nil {
		t.Fatalf("create destination %s: %v", name, err)
	}
	return d
}

// The portal shows and touches the session's customer's destinations only:
// another customer's, another tenant's, the tenant's own, a listen
// destination and one that does not exist are refused by every page and
// form alike, with the same 404 page, and none is listed.
func TestPortalScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant := b.operatorKey(t).TenantID
	mine := b.customerDestination(t, tenant, "cus_a", "mine")
	others := []*sluice.Destination{
		b.customerDestination(t, tenant, "cus_b", "theirs"),
		b.customerDestination(t, tenant, "", "tenants-own"),
	}
	listen := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenant, Name: "listening",
		Kind: sluice.KindListen, ListenUntil: time.Now().Add(time.Hour), EventTypes: []string{"*"}, Customer: "cus_a",
		Secret: signature.NewSecret(), Enabled: true}
	if err := b.store.CreateDestination(ctx, listen); err != nil {
		t.Fatal(err)
	}
	others = append(others, listen)
	other := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "other"}
	if err := b.store.CreateTenant(ctx, other, &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin",
		Role: sluice.RoleAdmin, TokenHash: sluice.HashToken(sluice.NewToken())}); err != nil {
		t.Fatal(err)
	}
	others = append(others, b.customerDestination(t, other.ID, "cus_a", "other-tenants"),
		&sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), Name: "nowhere"})

	br, _ := b.portal(t, sluice.PortalScope{Customer: "cus_a"})
	code, page := br.get("/portal/")
	if code != http.StatusOK || !strings.Contains(page, mine.ID) || !strings.Contains(page, "Webhooks for cus_a") {
		t.Fatalf("list: %d, lists %s: %v", code, mine.ID, strings.Contains(page, mine.ID))
	}
	if code, page := br.get("/portal/destinations/" + mine.ID); code != http.StatusOK || !strings.Contains(page, mine.URL) {
		t.Fatalf("own destination: %d", code)
	}

	var refusal string
	for _, d := range others {
		if strings.Contains(page, d.ID) || strings.Contains(page, d.Name) {
			t.Errorf("the list shows %s", d.Name)
		}
		for _, c := range []struct{ method, path string }{
			{"GET", ""}, {"POST", ""}, {"POST", "/enabled"}, {"POST", "/rotate-secret"}, {"POST", "/secret"}, {"POST", "/test"},
		} {
			var code int
			var body string
			if c.method == "GET" {
				code, body = br.get("/portal/destinations/" + d.ID + c.path)
			} else {
				code, body = br.post("/portal/destinations/"+d.ID+c.path, url.Values{"name": {"taken"}, "url": {"https://10.1.0.1/x"}, "enabled": {"false"}})
			}
			if code != http.StatusNotFound || !strings.Contains(body, "There is no such endpoint.") {
				t.Errorf("%s %s of %s: %d", c.method, c.path, d.Name, code)
			}
			if refusal == "" {
				refusal = body
			}
			if body != refusal {
				t.Errorf("%s %s of %s: a page unlike the other refusals", c.method, c.path, d.Name)
			}
			if d.URL != "" && strings.Contains(body, d.URL) || strings.Contains(body, d.Name) {
				t.Errorf("%s %s of %s shows it", c.method, c.path, d.Name)
			}
		}
	}
	for _, d := range others[:2] {
		stored, err := b.store.Destination(ctx, tenant, d.ID)
		if err != nil || stored.Name != d.Name || !stored.Enabled || stored.Secret != d.Secret {
			t.Errorf("%s changed through another customer's portal: %+v, %v", d.Name, stored, err)
		}
	}
	if e := b.lastAudit(t, "destination.secret_read"); e != nil {
		t.Errorf("a refused secret read was audited: %+v", e)
	}
}

// A sign-in link works once and until it expires; a used, expired or
// unknown link shows one page. The portal's cookie is HttpOnly, Lax, on
// /portal/ only; signing out ends the session, and a session ended shows
// the signed-out page, never the dashboard's sign-in. Neither kind of
// session's cookie opens the other's pages, and the link's token is never
// logged.
func TestPortalLinksAndSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenant := b.operatorKey(t).TenantID
	link, id := b.portalLink(t, tenant, sluice.PortalScope{Customer: "cus_a"}, time.Minute)
	br := b.newPortalBrowser(t)
	// A HEAD, as a link preview may send, does not use the link up.
	head, err := http.Head(b.srv.URL + link)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusOK || len(head.Cookies()) != 0 {
		t.Errorf("HEAD of the link: %d, cookies %v", head.StatusCode, head.Cookies())
	}
	res := br.do("GET", link, nil)
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "sluice_portal" {
			cookie = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode ||
		cookie.Path != "/portal/" || cookie.MaxAge <= 0 {
		t.Fatalf("sign in: %d, cookie %+v", res.StatusCode, cookie)
	}
	if e := b.lastAudit(t, "portal_session.sign_in"); e == nil || e.ActorKeyID != id {
		t.Errorf("sign-in audited as %+v, want under %s", e, id)
	}

	const expired = "This sign-in link has expired or was used already. Ask for a new one."
	again := b.newPortalBrowser(t)
	code, used := again.get(link)
	if code != http.StatusNotFound || !strings.Contains(used, expired) {
		t.Errorf("the link used again: %d", code)
	}
	if code, page := again.get("/portal/start/" + sluice.NewToken()); code != http.StatusNotFound || page != used {
		t.Errorf("an unknown link: %d, unlike a used one", code)
	}
	if code, _ := again.get("/portal/"); code != http.StatusUnauthorized {
		t.Errorf("the refused link signed in: %d", code)
	}

	// The dashboard's session does not open the portal, nor the portal's
	// the dashboard.
	dash := b.signIn(t, b.operator)
	for _, c := range dash.client.Jar.Cookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(b.srv.URL, "http://"), Path: "/ui/"}) {
		req, _ := http.NewRequest("GET", b.srv.URL+"/portal/", nil)
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page := readBody(t, res)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "You are signed out") {
			t.Errorf("the dashboard's %s cookie on the portal: %d", c.Name, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", b.srv.URL+"/ui/destinations", nil)
	req.AddCookie(&http.Cookie{Name: "sluice_session", Value: cookie.Value})
	res, err = b.newPortalBrowser(t).client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		t.Errorf("the portal's cookie id on the dashboard: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}

	// Signing out ends the session in the store, audited.
	if code, page := br.post("/portal/logout", url.Values{}); code != http.StatusOK || !strings.Contains(page, "You are signed out.") {
		t.Errorf("sign out: %d", code)
	}
	if e := b.lastAudit(t, "portal_session.delete"); e == nil || e.ResourceID != id || e.ActorKeyID != id {
		t.Errorf("sign-out audited as %+v", e)
	}
	req, _ = http.NewRequest("GET", b.srv.URL+"/portal/", nil)
	req.AddCookie(cookie)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, res)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || strings.Contains(page, "/ui/login") || !strings.Contains(page, "You are signed out") {
		t.Errorf("after sign-out: %d", res.StatusCode)
	}
	token := strings.TrimPrefix(link, "/portal/start/")
	if strings.Contains(b.logs.String(), token) {
		t.Error("the log has the link's token")
	}
}

// A link not used before it expires is refused; a session ends with its
// lifetime, on the portal's clock.
func TestPortalLinkExpires(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Now())
	b := setupAt(t, clock.Now)
	tenant := b.operatorKey(t).TenantID
	link, _ := b.portalLink(t, tenant, sluice.PortalScope{Customer: "cus_a"}, time.Minute)
	fresh, _ := b.portalLink(t, tenant, sluice.PortalScope{Customer: "cus_a"}, 30*time.Minute)
	clock.Advance(2 * time.Minute)
	br := b.newPortalBrowser(t)
	if code, page := br.get(link); code != http.StatusNotFound || !strings.Contains(page, "has expired or was used already") {
		t.Errorf("an expired link: %d", code)
	}
	if res := br.do("GET", fresh, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a fresh link: %d", res.StatusCode)
	}
	if code, _ := br.get("/portal/"); code != http.StatusOK {
		t.Errorf("signed in: %d", code)
	}
	clock.Advance(time.Hour + time.Second)
	if code, page := br.get("/portal/"); code != http.StatusUnauthorized || !strings.Contains(page, "You are signed out") {
		t.Errorf("a session past its lifetime: %d", code)
	}
}

// A form without the session's CSRF token is refused and changes nothing.
func TestPortalCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, _ := b.portal(t, sluice.PortalScope{Customer: "cus_a"})
	tenant := b.operatorKey(t).TenantID
	d := b.customerDestination(t, tenant, "cus_a", "mine")
	for _, token := range []string{"", "forged"} {
		for _, path := range []string{"/portal/destinations", "/portal/destinations/" + d.ID + "/enabled", "/portal/logout"} {
			res := br.do("POST", path, url.Values{"csrf": {token}, "name": {"new"}, "url": {"https://10.1.0.2/x"}, "enabled": {"false"}})
			if body := readBody(t, res); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired") {
				t.Errorf("POST %s with token %q: %d", path, token, res.StatusCode)
			}
		}
	}
	list, _, err := b.store.CustomerDestinations(context.Background(), tenant, "cus_a", sluice.Page{Limit: 10})
	if err != nil || len(list) != 1 || !list[0].Enabled {
		t.Errorf("refused forms changed the customer's destinations: %d, %v", len(list), err)
	}
	if code, _ := br.get("/portal/"); code != http.StatusOK {
		t.Errorf("a refused sign-out ended the session: %d", code)
	}
}

// The customer adds an endpoint from its name, URL and types only (any
// other field posted is ignored), sees its secret once, edits it under the
// API's rules, and everything is audited under the portal session.
func TestPortalCreateAndEdit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant := b.operatorKey(t).TenantID
	b.customerDestination(t, tenant, "cus_b", "taken")
	br, id := b.portal(t, sluice.PortalScope{Customer: "cus_a"})

	code, page := br.post("/portal/destinations", url.Values{"name": {"orders"}, "url": {"https://10.1.0.5/hooks"},
		"event_types": {"order.paid order.refunded, invoice.*"}, "customer": {"cus_b"}, "fields": {"id"},
		"delivery": {"thin"}, "pseudonymize": {"email"}})
	if code != http.StatusCreated || !strings.Contains(page, `id="secret-value"`) {
		t.Fatalf("create: %d", code)
	}
	list, _, err := b.store.CustomerDestinations(ctx, tenant, "cus_a", sluice.Page{Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("the customer's destinations: %d, %v", len(list), err)
	}
	d := list[0]
	if got := strings.Join(d.EventTypes, " "); got != "order.paid order.refunded invoice.*" || d.Fields != nil ||
		d.Thin() || d.Pseudonymize != nil || d.URL != "https://10.1.0.5/hooks" {
		t.Errorf("created %+v", d)
	}
	if secret := html.UnescapeString(between(page, `<code id="secret-value">`, "</code>")); secret != d.Secret {
		t.Errorf("the secret shown is not the destination's")
	}
	if e := b.lastAudit(t, "destination.create"); e == nil || e.ActorKeyID != id || e.ResourceID != d.ID {
		t.Errorf("creation audited as %+v", e)
	}
	if code, page := br.get("/portal/destinations/" + d.ID); code != http.StatusOK || strings.Contains(page, d.Secret) {
		t.Errorf("the page again: %d, secret shown again: %v", code, strings.Contains(page, d.Secret))
	}

	// Refusals: a URL the API refuses, and a name another of the
	// customer's endpoints has. Another customer's names are theirs:
	// "taken" is cus_b's and free for cus_a.
	code, page = br.post("/portal/destinations/"+d.ID, url.Values{"name": {"orders"}, "url": {"http://hooks.example.com/x"}})
	if code != http.StatusBadRequest || !strings.HasPrefix(fieldError(t, page, "url"), "url: ") || inputValue(page, "url") != "http://hooks.example.com/x" {
		t.Errorf("bad URL: %d, beside url %q", code, fieldError(t, page, "url"))
	}
	code, page = br.post("/portal/destinations", url.Values{"name": {"Orders"}, "url": {"https://10.1.0.6/x"}})
	if msg := fieldError(t, page, "name"); code != http.StatusConflict || !strings.Contains(msg, d.ID) {
		t.Errorf("a name the customer's other endpoint has: %d, %q", code, msg)
	}
	if code, _ := br.post("/portal/destinations", url.Values{"name": {"Taken"}, "url": {"https://10.1.0.6/x"}}); code != http.StatusCreated {
		t.Errorf("a name only another customer has: %d, want 201", code)
	}

	code, _ = br.post("/portal/destinations/"+d.ID, url.Values{"name": {"orders v2"}, "url": {"https://10.1.0.7/hooks"}, "event_types": {""}})
	stored, err := b.store.Destination(ctx, tenant, d.ID)
	if code != http.StatusSeeOther || err != nil || stored.Name != "orders v2" || stored.URL != "https://10.1.0.7/hooks" ||
		strings.Join(stored.EventTypes, ",") != "*" || stored.Customer != "cus_a" {
		t.Errorf("edit: %d, %+v, %v", code, stored, err)
	}
	if e := b.lastAudit(t, "destination.update"); e == nil || e.ActorKeyID != id {
		t.Errorf("edit audited as %+v", e)
	}

	// Reveal and test: audited under the session; the test event waits
	// for this destination alone.
	if code, page := br.post("/portal/destinations/"+d.ID+"/secret", url.Values{}); code != http.StatusOK ||
		html.UnescapeString(between(page, `<code id="secret-value">`, "</code>")) != stored.Secret {
		t.Errorf("reveal: %d", code)
	}
	if e := b.lastAudit(t, "destination.secret_read"); e == nil || e.ActorKeyID != id || e.ResourceID != d.ID {
		t.Errorf("reveal audited as %+v", e)
	}
	wakes := b.wakes.Load()
	if code, _ := br.post("/portal/destinations/"+d.ID+"/test", url.Values{}); code != http.StatusSeeOther || b.wakes.Load() != wakes+1 {
		t.Errorf("test: %d, wakes %d", code, b.wakes.Load()-wakes)
	}
	deliveries, _, err := b.store.DestinationDeliveries(ctx, tenant, d.ID, sluice.Page{Limit: 5})
	if err != nil || len(deliveries) != 1 {
		t.Fatalf("test deliveries: %d, %v", len(deliveries), err)
	}
	if e := b.lastAudit(t, "destination.test"); e == nil || e.ActorKeyID != id {
		t.Errorf("test audited as %+v", e)
	}
}

// An event's page shows its deliveries and attempts to the endpoint only,
// and only for an event delivered to it. Without the payload grant no
// payload is offered and the reveal answers 403; with it the reveal is
// audited under the session.
func TestPortalDeliveryAndPayloadGrant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenant := b.operatorKey(t).TenantID
	mine := b.customerDestination(t, tenant, "cus_a", "mine")
	theirs := b.customerDestination(t, tenant, "cus_b", "theirs")
	ctx := context.Background()
	ev, err := b.store.SendTestEvent(ctx, tenant, mine.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.store.SendTestEvent(ctx, tenant, theirs.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.attemptAll(t, sluice.DeliveryPending)

	br, _ := b.portal(t, sluice.PortalScope{Customer: "cus_a"})
	code, page := br.get("/portal/destinations/" + mine.ID + "/events/" + ev.ID)
	if code != http.StatusOK || !strings.Contains(page, "http_status") || !strings.Contains(page, ">500<") ||
		strings.Contains(page, "show-payload") || strings.Contains(page, theirs.ID) {
		t.Errorf("event page: %d, payload offered %v", code, strings.Contains(page, "show-payload"))
	}
	_, refusal := br.get("/portal/destinations/" + mine.ID + "/events/" + other.ID)
	for _, path := range []string{
		"/portal/destinations/" + mine.ID + "/events/" + other.ID,   // another endpoint's event
		"/portal/destinations/" + mine.ID + "/events/evt_nosuch",    // none
		"/portal/destinations/" + theirs.ID + "/events/" + other.ID, // another customer's endpoint
		"/portal/destinations/" + theirs.ID + "/events/" + ev.ID,    // another customer's, with my event
	} {
		code, page := br.get(path)
		if code != http.StatusNotFound || strings.Contains(page, other.ID) && !strings.Contains(path, other.ID) {
			t.Errorf("GET %s: %d", path, code)
		}
		if strings.Contains(path, mine.ID) && page != refusal {
			t.Errorf("GET %s: unlike the other refusals", path)
		}
	}
	code, page = br.post("/portal/destinations/"+mine.ID+"/events/"+ev.ID+"/payload", url.Values{})
	if code != http.StatusForbidden || strings.Contains(page, "This is a test event") {
		t.Errorf("payload without the grant: %d", code)
	}
	if e := b.lastAudit(t, "event.payload_read"); e != nil {
		t.Errorf("a refused payload read was audited: %+v", e)
	}

	granted, id := b.portal(t, sluice.PortalScope{Customer: "cus_a", Payloads: true})
	if _, page := granted.get("/portal/destinations/" + mine.ID + "/events/" + ev.ID); !strings.Contains(page, "show-payload") {
		t.Error("no payload offered with the grant")
	}
	code, page = granted.post("/portal/destinations/"+mine.ID+"/events/"+ev.ID+"/payload", url.Values{})
	if code != http.StatusOK || !strings.Contains(page, "This is a test event") {
		t.Errorf("payload with the grant: %d", code)
	}
	if e := b.lastAudit(t, "event.payload_read"); e == nil || e.ActorKeyID != id || e.ResourceID != ev.ID {
		t.Errorf("payload read audited as %+v", e)
	}
	if code, _ := granted.post("/portal/destinations/"+mine.ID+"/events/"+other.ID+"/payload", url.Values{}); code != http.StatusNotFound {
		t.Errorf("another endpoint's payload with the grant: %d", code)
	}
}
