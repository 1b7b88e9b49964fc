package ui_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testcert"
)

// editForm is a destination's edit form as its page shows it, read from
// the page as a browser submits it: every input's value, each header row
// once, and no checkbox ticked.
func editForm(t *testing.T, br *browser, id string) url.Values {
	t.Helper()
	code, page := br.get("/ui/destinations/" + id)
	if code != http.StatusOK {
		t.Fatalf("destination page: %d", code)
	}
	form := between(page, `id="edit-destination"`, "</form>")
	out := url.Values{}
	for _, name := range []string{"name", "url", "event_types", "source_ids", "fields", "rate_limit_per_second",
		"fetch_ttl_seconds", "pseudonymize", "purpose", "lawful_basis", "owner", "region", "auth.username"} {
		out.Set(name, inputValue(form, name))
	}
	for _, sel := range []string{"delivery", "auth.type"} {
		opts := between(form, `name="`+sel+`"`, "</select>")
		_, after, ok := strings.Cut(opts, " selected>")
		if !ok {
			t.Fatalf("no option of %s selected", sel)
		}
		value, _, _ := strings.Cut(after, "<")
		if strings.Contains(opts, `value="" selected`) {
			value = ""
		}
		out.Set(sel, value)
	}
	for i := 0; strings.Contains(form, `id="header_name_`+strconv.Itoa(i)+`"`); i++ {
		row := between(form, `id="header_name_`+strconv.Itoa(i)+`"`, "</tr>")
		out.Add("header_name", between(row, `value="`, `"`))
		out.Add("header_value", between(between(row, `name="header_value"`, ">"), `value="`, `"`))
	}
	return out
}

// The edit form shows a destination's headers and its auth's type and
// user name, never its password, token or client certificate. A secret
// left empty keeps the stored one; a checkbox removes a header, the auth
// or the client certificate. Each change is the API's, audited alike, and
// a refusal is the API's, beside the field.
func TestDestinationFormSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	key := b.tenant(t)
	ctx := context.Background()
	certPEM, keyPEM := testcert.NewCA(t, "receiver ca").Client(t, "sluice")
	var mine, theirs struct{ ID string }
	for _, d := range []struct {
		name string
		out  *struct{ ID string }
	}{{"billing", &mine}, {"twin", &theirs}} {
		if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": d.name,
			"url": "https://10.1.2.3/" + d.name, "headers": map[string]string{"X-Tenant": "acme", "X-Region": "eu"},
			"auth":               map[string]string{"type": "basic", "username": "alice", "password": "pw-one"},
			"client_certificate": map[string]string{"cert_pem": string(certPEM), "key_pem": string(keyPEM)}}, d.out); code != http.StatusCreated {
			t.Fatalf("create: %d %s", code, raw)
		}
	}

	_, page := br.get("/ui/destinations/" + mine.ID)
	for _, secret := range []string{"pw-one", "BEGIN CERTIFICATE", "PRIVATE KEY"} {
		if strings.Contains(page, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}
	form := editForm(t, br, mine.ID)
	if form.Get("auth.type") != "basic" || form.Get("auth.username") != "alice" ||
		!slices.Equal(form["header_name"], []string{"X-Region", "X-Tenant", ""}) || !slices.Equal(form["header_value"], []string{"eu", "acme", ""}) {
		t.Fatalf("the edit form starts as %v", form)
	}

	// A header changed, the password left empty: kept, as is the certificate.
	form["header_value"] = []string{"eu", "globex", ""}
	if res := br.post("/ui/destinations/"+mine.ID, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", res.StatusCode, readBody(t, res))
	}
	if code, raw := b.call(t, "PATCH", "/v1/destinations/"+theirs.ID, b.operator, map[string]any{
		"headers": map[string]string{"X-Tenant": "globex", "X-Region": "eu"}}, nil); code != http.StatusOK {
		t.Fatalf("API edit: %d %s", code, raw)
	}
	d, err := b.store.Destination(ctx, key.TenantID, mine.ID)
	if err != nil || d.Auth != (sluice.DestinationAuth{Type: "basic", Username: "alice", Password: "pw-one"}) ||
		!maps.Equal(d.Headers, map[string]string{"X-Tenant": "globex", "X-Region": "eu"}) ||
		d.ClientCert.CertPEM != string(certPEM) || d.ClientCert.KeyPEM != string(keyPEM) {
		t.Fatalf("after keeping the secrets: %+v %+v %v (%v)", d.Auth, d.Headers, d.ClientCert.CertPEM != "", err)
	}
	entries := b.audit(t)
	if e := entries[1]; e.Action != "destination.update" || e.ResourceID != mine.ID || e.ActorKeyID != key.ID ||
		!slices.Equal(changed(e), changed(entries[0])) {
		t.Errorf("audit: the dashboard's %+v %v, the API's %v", e, changed(e), changed(entries[0]))
	}

	// A new password and user name replace the old.
	form = editForm(t, br, mine.ID)
	form.Set("auth.username", "bob")
	form.Set("auth.password", "pw-two")
	if res := br.post("/ui/destinations/"+mine.ID, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d %s", res.StatusCode, readBody(t, res))
	}
	if d, _ := b.store.Destination(ctx, key.TenantID, mine.ID); d.Auth != (sluice.DestinationAuth{Type: "basic", Username: "bob", Password: "pw-two"}) {
		t.Errorf("after a new password: %+v", d.Auth)
	}

	// Bearer without a token: the API's refusal, beside the token.
	form = editForm(t, br, mine.ID)
	form.Set("auth.type", "bearer")
	res := br.post("/ui/destinations/"+mine.ID, form)
	page = readBody(t, res)
	_, raw := b.call(t, "PATCH", "/v1/destinations/"+theirs.ID, b.operator, map[string]any{"auth": map[string]string{"type": "bearer"}}, nil)
	if got, want := fieldError(t, page, "auth.token"), apiError(t, raw); res.StatusCode != http.StatusBadRequest || got != want {
		t.Errorf("bearer without a token: %d, beside the token %q, want %q", res.StatusCode, got, want)
	}
	if strings.Contains(page, "pw-two") {
		t.Error("the refused form shows the password")
	}

	// The same header twice: refused in the API's words.
	form = editForm(t, br, mine.ID)
	form["header_name"] = append(form["header_name"], "X-Tenant")
	form["header_value"] = append(form["header_value"], "initech")
	res = br.post("/ui/destinations/"+mine.ID, form)
	if page := readBody(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "headers: X-Tenant is given twice") {
		t.Errorf("a header twice: %d", res.StatusCode)
	}

	// The checkboxes remove a header, the auth and the certificate.
	form = editForm(t, br, mine.ID)
	form.Set("header_remove", "1") // X-Tenant, the second row
	form.Set("auth.clear", "1")
	form.Set("client_certificate.clear", "1")
	if res := br.post("/ui/destinations/"+mine.ID, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", res.StatusCode, readBody(t, res))
	}
	d, err = b.store.Destination(ctx, key.TenantID, mine.ID)
	if err != nil || d.Auth != (sluice.DestinationAuth{}) || !maps.Equal(d.Headers, map[string]string{"X-Region": "eu"}) ||
		d.ClientCert != (sluice.ClientCertificate{}) {
		t.Errorf("after removing: %+v %+v %v (%v)", d.Auth, d.Headers, d.ClientCert.CertPEM != "", err)
	}
	if _, page := br.get("/ui/destinations/" + mine.ID); strings.Contains(page, `name="auth.clear"`) ||
		strings.Contains(page, `name="client_certificate.clear"`) {
		t.Error("remove checkboxes offered for what is not set")
	}

	// A bearer token and a certificate given on an edit are set.
	form = editForm(t, br, mine.ID)
	form.Set("auth.type", "bearer")
	form.Set("auth.token", "tok-three")
	form.Set("client_certificate.cert_pem", string(certPEM))
	form.Set("client_certificate.key_pem", string(keyPEM))
	if res := br.post("/ui/destinations/"+mine.ID, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("bearer: %d %s", res.StatusCode, readBody(t, res))
	}
	if d, _ := b.store.Destination(ctx, key.TenantID, mine.ID); d.Auth != (sluice.DestinationAuth{Type: "bearer", Token: "tok-three"}) ||
		d.ClientCert.KeyPEM != string(keyPEM) {
		t.Errorf("after a bearer token and a certificate: %+v, certificate %v", d.Auth, d.ClientCert.KeyPEM != "")
	}

	// A new certificate with the key left empty is paired with the stored
	// key: one of another key is refused as the API refuses the pair.
	otherCert, _ := testcert.NewCA(t, "other ca").Client(t, "sluice")
	form = editForm(t, br, mine.ID)
	form.Set("client_certificate.cert_pem", string(otherCert))
	res = br.post("/ui/destinations/"+mine.ID, form)
	page = readBody(t, res)
	_, raw = b.call(t, "PATCH", "/v1/destinations/"+theirs.ID, b.operator, map[string]any{
		"client_certificate": map[string]string{"cert_pem": string(otherCert), "key_pem": string(keyPEM)}}, nil)
	if got, want := fieldError(t, page, "client_certificate.cert_pem"), apiError(t, raw); res.StatusCode != http.StatusBadRequest ||
		got != want || strings.Contains(page, "PRIVATE KEY-----\n") {
		t.Errorf("a certificate of another key: %d, beside it %q, want %q", res.StatusCode, got, want)
	}
	if d, _ := b.store.Destination(ctx, key.TenantID, mine.ID); d.ClientCert.CertPEM != string(certPEM) || d.ClientCert.KeyPEM != string(keyPEM) {
		t.Error("the refused certificate was stored")
	}
	for _, e := range b.audit(t) {
		for _, c := range e.Changes {
			if s := changeText(c); strings.Contains(s, "pw-") || strings.Contains(s, "tok-three") || strings.Contains(s, "PRIVATE KEY") {
				t.Errorf("the audit log holds a secret: %s", s)
			}
		}
	}
}

// The create form offers, under "More settings", what the edit form has;
// what is given there is set as POST /v1/destinations sets it. A refusal
// of one of them opens "More settings" with the reason beside the field.
func TestCreateDestinationMoreSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	key := b.tenant(t)

	_, page := br.get("/ui/destinations")
	if !strings.Contains(page, `<details id="more-settings"><summary>More settings</summary>`) ||
		!strings.Contains(page, `name="rate_limit_per_second"`) || !strings.Contains(page, `name="auth.token"`) ||
		strings.Contains(page, `name="auth.clear"`) {
		t.Error("the create form lacks its closed More settings")
	}

	bad := url.Values{"name": {"billing"}, "url": {"https://10.1.2.3/hooks"}, "lawful_basis": {"because"}, "delivery": {"full"}}
	res := br.post("/ui/destinations", bad)
	page = readBody(t, res)
	_, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "x", "url": "https://10.1.2.3/x",
		"lawful_basis": "because"}, nil)
	if got, want := fieldError(t, page, "lawful_basis"), apiError(t, raw); res.StatusCode != http.StatusBadRequest || got != want ||
		!strings.Contains(page, `<details id="more-settings" open>`) || inputValue(page, "lawful_basis") != "because" {
		t.Errorf("refused: %d, beside lawful_basis %q, want %q", res.StatusCode, got, want)
	}

	good := url.Values{"name": {"billing"}, "url": {"https://10.1.2.3/hooks"}, "delivery": {"thin"},
		"rate_limit_per_second": {"5"}, "purpose": {"invoicing"}, "lawful_basis": {"contract"}, "customer": {"cus_42"},
		"header_name": {"X-Tenant"}, "header_value": {"acme"}, "auth.type": {"bearer"}, "auth.token": {"tok-1"}}
	res = br.post("/ui/destinations", good)
	page = readBody(t, res)
	id := "dst_" + between(page, "<code>dst_", "</code>")
	if res.StatusCode != http.StatusCreated || !strings.Contains(page, `id="secret-value"`) {
		t.Fatalf("create: %d %s", res.StatusCode, page)
	}
	var got struct {
		RateLimit   int               `json:"rate_limit_per_second"`
		Customer    string            `json:"customer"`
		Delivery    string            `json:"delivery"`
		Purpose     string            `json:"purpose"`
		LawfulBasis string            `json:"lawful_basis"`
		Headers     map[string]string `json:"headers"`
		Auth        map[string]string `json:"auth"`
	}
	if code, raw := b.call(t, "GET", "/v1/destinations/"+id, b.operator, nil, &got); code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", id, code, raw)
	}
	if got.RateLimit != 5 || got.Customer != "cus_42" || got.Delivery != "thin" || got.Purpose != "invoicing" || got.LawfulBasis != "contract" ||
		!maps.Equal(got.Headers, map[string]string{"X-Tenant": "acme"}) || !maps.Equal(got.Auth, map[string]string{"type": "bearer"}) {
		t.Errorf("created: %+v", got)
	}
	if d, err := b.store.Destination(context.Background(), key.TenantID, id); err != nil || d.Auth.Token != "tok-1" {
		t.Errorf("the token was not stored: %v", err)
	}
	if e := b.audit(t)[0]; e.Action != "destination.create" || e.ResourceID != id || e.ActorKeyID != key.ID {
		t.Errorf("audit: %+v", e)
	}
}

// Deleting a destination asks first: the first post shows what will happen
// and deletes nothing. The confirmed one deletes it as DELETE does,
// audited alike, and goes back to the list. A viewer is refused.
func TestDeleteDestination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	key := b.tenant(t)
	ctx := context.Background()
	var mine, theirs struct{ ID string }
	for _, d := range []struct {
		name string
		out  *struct{ ID string }
	}{{"billing", &mine}, {"twin", &theirs}} {
		if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": d.name,
			"url": "https://10.1.2.3/" + d.name}, d.out); code != http.StatusCreated {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	if _, page := br.get("/ui/destinations/" + mine.ID); !strings.Contains(page, `action="/ui/destinations/`+mine.ID+`/delete"`) {
		t.Error("the page offers no delete")
	}
	n := len(b.audit(t))

	res := br.post("/ui/destinations/"+mine.ID+"/delete", url.Values{})
	page := readBody(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `id="confirm"`) || !strings.Contains(page, "Delete billing?") ||
		!strings.Contains(page, `name="confirm" value="1"`) || !strings.Contains(page, `action="/ui/destinations/`+mine.ID+`/delete"`) {
		t.Fatalf("delete without confirming: %d %s", res.StatusCode, page)
	}
	if _, err := b.store.Destination(ctx, key.TenantID, mine.ID); err != nil || len(b.audit(t)) != n {
		t.Fatalf("deleted before it was confirmed: %v, %d audit entries, want %d", err, len(b.audit(t)), n)
	}

	_, token := b.viewer(t)
	vb := b.signIn(t, token)
	n = len(b.audit(t))
	res = vb.post("/ui/destinations/"+mine.ID+"/delete", url.Values{"confirm": {"1"}})
	if got := flash(t, res); !strings.HasPrefix(got, "Not deleted: ") {
		t.Errorf("viewer: %q", got)
	}
	if _, err := b.store.Destination(ctx, key.TenantID, mine.ID); err != nil || len(b.audit(t)) != n {
		t.Fatalf("the viewer deleted it: %v", err)
	}

	res = br.post("/ui/destinations/"+mine.ID+"/delete", url.Values{"confirm": {"1"}})
	if got, want := flash(t, res), "Deleted destination billing ("+mine.ID+")."; res.Header.Get("Location") != "/ui/destinations" || got != want {
		t.Errorf("delete: to %q with %q, want %q", res.Header.Get("Location"), got, want)
	}
	if _, err := b.store.Destination(ctx, key.TenantID, mine.ID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("after the delete: %v", err)
	}
	if code, raw := b.call(t, "DELETE", "/v1/destinations/"+theirs.ID, b.operator, nil, nil); code != http.StatusNoContent {
		t.Fatalf("API delete: %d %s", code, raw)
	}
	entries := b.audit(t)
	if e := entries[1]; e.Action != "destination.delete" || e.ResourceID != mine.ID || e.ActorKeyID != key.ID ||
		e.Action != entries[0].Action || !slices.Equal(changed(e), changed(entries[0])) {
		t.Errorf("audit: the dashboard's %+v %v, the API's %+v %v", e, changed(e), entries[0], changed(entries[0]))
	}
	if got := flash(t, br.post("/ui/destinations/"+mine.ID+"/delete", url.Values{"confirm": {"1"}})); !strings.HasPrefix(got, "Not deleted: ") {
		t.Errorf("deleting it again: %q", got)
	}
}

// A listen destination's edit form has no URL, headers, auth or client
// certificate, which its deliveries never carry, and still saves.
func TestEditListenDestination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	key := b.tenant(t)
	var l struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/listen", b.operator, map[string]any{"event_types": []string{"*"}}, &l); code != http.StatusCreated {
		t.Fatalf("listen: %d %s", code, raw)
	}
	_, page := br.get("/ui/destinations/" + l.ID)
	form := between(page, `id="edit-destination"`, "</form>")
	for _, name := range []string{"url", "header_name", "auth.type", "client_certificate.cert_pem"} {
		if strings.Contains(form, `name="`+name+`"`) {
			t.Errorf("the listen destination's form asks for %s", name)
		}
	}
	res := br.post("/ui/destinations/"+l.ID, url.Values{"name": {"my listener"}, "event_types": {"*"}, "delivery": {"full"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", res.StatusCode, readBody(t, res))
	}
	if d, err := b.store.Destination(context.Background(), key.TenantID, l.ID); err != nil || d.Name != "my listener" || !d.Listening() {
		t.Errorf("after the edit: %+v (%v)", d, err)
	}
}
