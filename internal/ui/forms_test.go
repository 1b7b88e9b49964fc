package ui_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// fieldError is the message the page shows beside the form input named
// name, unescaped, or "".
func fieldError(t *testing.T, page, name string) string {
	t.Helper()
	re := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `"[^>]*>(?:[^<]*</(?:textarea|select)>|(?:<option[^>]*>[^<]*</option>)*</select>)?<p class="field-error" role="alert">([^<]*)</p>`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// inputValue is the value the page's input or textarea named name shows.
func inputValue(page, name string) string {
	q := regexp.QuoteMeta(name)
	if m := regexp.MustCompile(`<input[^>]* name="` + q + `"[^>]* value="([^"]*)"`).FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	if m := regexp.MustCompile(`<textarea[^>]* name="` + q + `"[^>]*>([^<]*)</textarea>`).FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// sameMessage reports whether the dashboard showed the API's message: the
// same, but for the server flags the API names, which the dashboard never
// does.
func sameMessage(got, api string) bool {
	if !strings.Contains(api, "--") {
		return got == api
	}
	cut := strings.IndexAny(api, "(;")
	return !strings.Contains(got, "--") && cut > 0 && strings.HasPrefix(got, api[:cut])
}

// between is the text of s between the first from and the to after it.
func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	out, _, _ := strings.Cut(after, to)
	return out
}

func (b *testBundle) tenant(t *testing.T) *sluice.APIKey {
	t.Helper()
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// changed are the fields an audit entry names as changed.
func changed(e *sluice.AuditEntry) []string {
	var out []string
	for _, c := range e.Changes {
		out = append(out, c.Field)
	}
	return out
}

// The source forms create and change sources as the API does: the same
// source, the same audit entries, the API's message beside the field with
// what was typed kept (secrets never shown back); a viewer reads the pages
// without a form and is refused.
func TestSourceForms(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	key := b.tenant(t)

	bad := url.Values{"name": {"shop"}, "verification.type": {"hmac"}, "verification.secret": {"s3cret-value"},
		"verification.header": {"X-Sig"}, "subject_paths": {"data.email email\ndata..x email"}, "allowed_ips": {"10.0.0.0/8"},
		"rate_limit_per_second": {"5"}, "purpose": {"billing"}}
	code, raw := b.call(t, "POST", "/v1/sources", b.operator, map[string]any{"name": "shop",
		"verification":  map[string]any{"type": "hmac", "secret": "s3cret-value", "header": "X-Sig"},
		"subject_paths": []map[string]string{{"path": "data.email", "type": "email"}, {"path": "data..x", "type": "email"}},
		"allowed_ips":   []string{"10.0.0.0/8"}, "rate_limit_per_second": 5, "purpose": "billing"}, nil)
	if code != http.StatusBadRequest {
		t.Fatalf("the API answered %d, want 400", code)
	}
	res := br.post("/ui/sources", bad)
	page := readBody(t, res)
	if want := apiError(t, raw); res.StatusCode != http.StatusBadRequest || fieldError(t, page, "subject_paths") != want {
		t.Errorf("refused create: %d, beside subject_paths %q, want %q", res.StatusCode, fieldError(t, page, "subject_paths"), want)
	}
	for _, name := range []string{"name", "verification.header", "subject_paths", "allowed_ips", "rate_limit_per_second", "purpose"} {
		if got := inputValue(page, name); got != bad.Get(name) {
			t.Errorf("refused create: %s shows %q, want %q", name, got, bad.Get(name))
		}
	}
	if strings.Contains(page, "s3cret-value") {
		t.Error("the refused form shows the secret back")
	}

	good := url.Values{"name": {"shop"}, "verification.type": {"stripe"}, "verification.secret": {"whsec_abc"},
		"subject_paths": {"data.email email"}, "allowed_ips": {"203.0.113.0/24"}, "rate_limit_per_second": {"5"},
		"payload_retention": {"48h"}, "purpose": {"billing"}, "lawful_basis": {"contract"}}
	res = br.post("/ui/sources", good)
	loc := res.Header.Get("Location")
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/ui/sources/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(id, sluice.PrefixSource) {
		t.Fatalf("create: %d to %q", res.StatusCode, loc)
	}
	var fromAPI struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/sources", b.operator, map[string]any{"name": "shop2",
		"verification":  map[string]any{"type": "stripe", "secret": "whsec_abc"},
		"subject_paths": []map[string]string{{"path": "data.email", "type": "email"}},
		"allowed_ips":   []string{"203.0.113.0/24"}, "rate_limit_per_second": 5, "payload_retention": "48h",
		"purpose": "billing", "lawful_basis": "contract"}, &fromAPI); code != http.StatusCreated {
		t.Fatalf("API create: %d %s", code, raw)
	}
	ctx := context.Background()
	mine, err := b.store.Source(ctx, key.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := b.store.Source(ctx, key.TenantID, fromAPI.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mine.Verification != theirs.Verification || mine.EventTypePath != theirs.EventTypePath ||
		mine.EventIDPath != theirs.EventIDPath || !slices.Equal(mine.SubjectPaths, theirs.SubjectPaths) ||
		!slices.Equal(mine.AllowedIPs, theirs.AllowedIPs) || mine.RateLimitPerSecond != 5 ||
		mine.PayloadRetention != theirs.PayloadRetention || mine.Processing != theirs.Processing || !mine.Enabled {
		t.Errorf("the dashboard created %+v, the API %+v", mine, theirs)
	}
	entries := b.audit(t)
	if entries[1].Action != entries[0].Action || entries[1].ResourceID != id || entries[1].ActorKeyID != key.ID ||
		!slices.Equal(changed(entries[1]), changed(entries[0])) {
		t.Errorf("audit: the dashboard's %+v, the API's %+v", entries[1], entries[0])
	}

	// The page shows the ingest URL, selectable, with a copy button for
	// browsers with JavaScript; the list too.
	_, page = br.get("/ui/sources/" + id)
	ingest := b.srv.URL + "/in/" + id
	if got := between(page, `<code id="ingest-url" class="ingest">`, "</code>"); got != ingest {
		t.Errorf("ingest URL %q, want %q", got, ingest)
	}
	if !strings.Contains(page, `data-copy="ingest-url"`) || !strings.Contains(page, `<script src="/ui/static/copy.js">`) {
		t.Error("no copy button on the source's page")
	}
	if strings.Contains(page, "whsec_abc") {
		t.Error("the source's page shows its secret")
	}
	if _, list := br.get("/ui/sources"); !strings.Contains(list, ingest) {
		t.Error("the list does not show the ingest URL")
	}
	if code, js := br.get("/ui/static/copy.js"); code != http.StatusOK || !strings.Contains(js, "clipboard") {
		t.Errorf("copy.js: %d", code)
	}

	// Editing: a refusal keeps the input; a change saves, the secret kept
	// when left empty, audited as the API's PATCH is.
	edit := url.Values{"name": {"shop renamed"}, "verification.type": {"stripe"}, "payload_retention": {"-1h"},
		"subject_paths": {"data.email email"}}
	res = br.post("/ui/sources/"+id, edit)
	page = readBody(t, res)
	code, raw = b.call(t, "PATCH", "/v1/sources/"+fromAPI.ID, b.operator, map[string]any{"payload_retention": "-1h"}, nil)
	if want := apiError(t, raw); code != http.StatusBadRequest || res.StatusCode != http.StatusBadRequest ||
		fieldError(t, page, "payload_retention") != want || inputValue(page, "name") != "shop renamed" ||
		inputValue(page, "payload_retention") != "-1h" {
		t.Errorf("refused edit: %d, beside payload_retention %q, want %q; name %q", res.StatusCode,
			fieldError(t, page, "payload_retention"), want, inputValue(page, "name"))
	}
	edit.Set("payload_retention", "72h")
	if res := br.post("/ui/sources/"+id, edit); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", res.StatusCode, readBody(t, res))
	}
	if code, raw := b.call(t, "PATCH", "/v1/sources/"+fromAPI.ID, b.operator, map[string]any{"name": "shop2 renamed",
		"payload_retention": "72h", "allowed_ips": []string{}, "rate_limit_per_second": 0, "purpose": "",
		"lawful_basis": ""}, nil); code != http.StatusOK {
		t.Fatalf("API edit: %d %s", code, raw)
	}
	if mine, err = b.store.Source(ctx, key.TenantID, id); err != nil || mine.Name != "shop renamed" ||
		mine.PayloadRetention.String() != "72h0m0s" || mine.Verification.Secret != "whsec_abc" || mine.RateLimitPerSecond != 0 {
		t.Errorf("after the edit: %+v (%v)", mine, err)
	}
	entries = b.audit(t)
	if entries[1].Action != "source.update" || entries[1].Action != entries[0].Action || entries[1].ResourceID != id ||
		!slices.Equal(changed(entries[1]), changed(entries[0])) {
		t.Errorf("edit audit: the dashboard's %+v, the API's %+v", entries[1], entries[0])
	}

	// A viewer sees the pages, no form, and is refused.
	_, token := b.viewer(t)
	vb := b.signIn(t, token)
	n := len(b.audit(t))
	for _, path := range []string{"/ui/sources", "/ui/sources/" + id} {
		code, page := vb.get(path)
		if code != http.StatusOK || strings.Contains(page, "<form method=\"post\" action=\"/ui/sources") || !strings.Contains(page, ingest) {
			t.Errorf("viewer %s: %d, forms shown: %v", path, code, strings.Contains(page, "action=\"/ui/sources"))
		}
	}
	for _, path := range []string{"/ui/sources", "/ui/sources/" + id} {
		res := vb.post(path, url.Values{"name": {"viewer's"}, "verification.type": {"none"}})
		if body := readBody(t, res); res.StatusCode != http.StatusForbidden || !strings.Contains(body, forbidden) {
			t.Errorf("viewer POST %s: %d", path, res.StatusCode)
		}
	}
	if len(b.audit(t)) != n {
		t.Error("the viewer's attempts were audited as changes")
	}
	if s, _ := b.store.Source(ctx, key.TenantID, id); s.Name != "shop renamed" {
		t.Errorf("the viewer renamed the source to %q", s.Name)
	}
}
