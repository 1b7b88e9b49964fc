package ui_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
)

// forbidden is the API's answer to a viewer's change, which the dashboard
// gives too.
const forbidden = "this needs an admin key; a viewer key reads metadata only"

// A form that creates a destination gives the API's message for what is
// wrong beside the field, keeps what was typed, and creates nothing; a good
// one creates it with the API's defaults, with the session's key named in
// the audit log, and shows its secret once.
func TestCreateDestination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	tests := []struct {
		name string
		form url.Values
		body map[string]any // the same destination asked of the API
	}{
		{"name too long", url.Values{"name": {strings.Repeat("n", 201)}, "url": {"https://a.example.com"}},
			map[string]any{"name": strings.Repeat("n", 201), "url": "https://a.example.com"}},
		{"no URL", url.Values{"name": {"x"}, "url": {""}}, map[string]any{"name": "x", "url": ""}},
		{"plain http", url.Values{"name": {"x"}, "url": {"http://hooks.example.com/x"}}, map[string]any{"name": "x", "url": "http://hooks.example.com/x"}},
		{"credentials", url.Values{"name": {"x"}, "url": {"https://u:p@hooks.example.com"}}, map[string]any{"name": "x", "url": "https://u:p@hooks.example.com"}},
		{"loopback", url.Values{"name": {"x"}, "url": {"https://127.0.0.1/"}}, map[string]any{"name": "x", "url": "https://127.0.0.1/"}},
		{"resolves to loopback", url.Values{"name": {"x"}, "url": {"https://rebind.example.com/"}}, map[string]any{"name": "x", "url": "https://rebind.example.com/"}},
		{"bad pattern", url.Values{"name": {"x"}, "url": {"https://a.example.com"}, "event_types": {"invoice paid"}},
			map[string]any{"name": "x", "url": "https://a.example.com", "event_types": []string{"invoice paid"}}},
		{"bad field", url.Values{"name": {"x"}, "url": {"https://a.example.com"}, "fields": {"id, data..amount"}},
			map[string]any{"name": "x", "url": "https://a.example.com", "fields": []string{"id", "data..amount"}}},
	}
	for _, tt := range tests {
		code, raw := b.call(t, "POST", "/v1/destinations", b.operator, tt.body, nil)
		if code != http.StatusBadRequest {
			t.Fatalf("%s: the API answered %d, want 400", tt.name, code)
		}
		res := br.post("/ui/destinations", tt.form)
		page := readBody(t, res)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tt.name, res.StatusCode)
		}
		want := apiError(t, raw)
		field, _, _ := strings.Cut(want, ":")
		if got := fieldError(t, page, field); !sameMessage(got, want) {
			t.Errorf("%s: beside %s got %q, want %q", tt.name, field, got, want)
		}
		for name := range tt.form {
			if got := inputValue(page, name); got != tt.form.Get(name) {
				t.Errorf("%s: %s shows %q, want %q as typed", tt.name, name, got, tt.form.Get(name))
			}
		}
	}
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	if ds, _, err := b.store.Destinations(context.Background(), key.TenantID, sluice.Page{Limit: 10}); err != nil || len(ds) != 0 {
		t.Fatalf("%d destinations after refusals (%v), want 0", len(ds), err)
	}

	res := br.post("/ui/destinations", url.Values{"name": {"billing"}, "url": {"https://10.1.2.3/hooks"},
		"fields": {"id, data.amount"}})
	page := readBody(t, res)
	id := between(page, "<dt>Id</dt><dd><code>", "</code>")
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(id, sluice.PrefixDestination) {
		t.Fatalf("create: %d, id %q", res.StatusCode, id)
	}
	d, err := b.store.Destination(context.Background(), key.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := html.UnescapeString(between(page, `<code id="secret-value">`, "</code>")); got != d.Secret {
		t.Errorf("the page shows secret %q, want the destination's", got)
	}
	if _, again := br.get("/ui/destinations/" + id); strings.Contains(again, d.Secret) {
		t.Error("the secret is shown again on the destination's page")
	}
	if _, err := signature.ParseSecret(d.Secret); err != nil || d.Name != "billing" || d.URL != "https://10.1.2.3/hooks" ||
		!slices.Equal(d.EventTypes, []string{"*"}) || !slices.Equal(d.Fields, []string{"id", "data.amount"}) ||
		len(d.SourceIDs) != 0 || !d.Enabled || d.State() != sluice.StateActive {
		t.Errorf("created %+v (secret: %v)", d, err)
	}
	if e := b.audit(t)[0]; e.Action != "destination.create" || e.ResourceID != id || e.ActorKeyID != key.ID {
		t.Errorf("audit %+v, want destination.create of %s by %s", e, id, key.ID)
	}
}

// The switch disables a destination by hand, and enabling it wakes the
// dispatcher, as the API's PATCH does; the session's key is the actor.
func TestSwitchDestination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var d struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "a", "url": "https://a.example.com"}, &d); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	br := b.signIn(t, b.operator)
	tests := []struct {
		enabled    string
		want       string
		wantState  string
		wantReason string
		wantWakes  int32
	}{
		{"false", "Destination " + d.ID + " disabled.", sluice.StateDisabled, sluice.DisabledManual, 0},
		{"false", "Destination " + d.ID + " disabled.", sluice.StateDisabled, sluice.DisabledManual, 0},
		{"true", "Destination " + d.ID + " enabled.", sluice.StateActive, "", 1},
		{"true", "Destination " + d.ID + " enabled.", sluice.StateActive, "", 1}, // enabled already: nothing is due
	}
	for i, tt := range tests {
		if got := flash(t, br.post("/ui/destinations/"+d.ID+"/enabled", url.Values{"enabled": {tt.enabled}, "confirm": {"1"}})); got != tt.want {
			t.Errorf("%d: got %q, want %q", i, got, tt.want)
		}
		got, err := b.store.Destination(context.Background(), key.TenantID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State() != tt.wantState || got.DisabledReason != tt.wantReason || b.wakes.Load() != tt.wantWakes {
			t.Errorf("%d: state %s (%q), %d wakes; want %s (%q), %d", i, got.State(), got.DisabledReason, b.wakes.Load(),
				tt.wantState, tt.wantReason, tt.wantWakes)
		}
		if e := b.audit(t)[0]; e.Action != "destination.update" || e.ResourceID != d.ID || e.ActorKeyID != key.ID {
			t.Errorf("%d: audit %+v, want destination.update by %s", i, e, key.ID)
		}
	}
	got := flash(t, br.post("/ui/destinations/dst_nope/enabled", url.Values{"enabled": {"false"}, "confirm": {"1"}}))
	if !strings.HasPrefix(got, "Not changed: ") {
		t.Errorf("an unknown destination: got %q", got)
	}
}

// Revealing a payload shows it to an admin and writes the API's audit
// entry for a payload read, naming the session's key.
func TestRevealPayload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.publish(t, map[string]any{"type": "invoice.paid", "payload": map[string]any{"id": "inv_1", "note": "<b>"}})
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	br := b.signIn(t, b.operator)
	res := br.post("/ui/events/"+id+"/payload", url.Values{})
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="payload"`) || !strings.Contains(body, "inv_1") ||
		!strings.Contains(body, "&lt;b&gt;") {
		t.Fatalf("reveal: %d %s", res.StatusCode, body)
	}
	if e := b.audit(t)[0]; e.Action != "event.payload_read" || e.ResourceID != id || e.ActorKeyID != key.ID {
		t.Errorf("audit %+v, want event.payload_read of %s by %s", e, id, key.ID)
	}

	// Erased: nothing to read, and nothing audited.
	if code, raw := b.call(t, "DELETE", "/v1/events/"+id+"/payload", b.operator, nil, nil); code != http.StatusNoContent {
		t.Fatalf("erase the payload: %d %s", code, raw)
	}
	entries := len(b.audit(t))
	res = br.post("/ui/events/"+id+"/payload", url.Values{})
	body = readBody(t, res)
	if res.StatusCode != http.StatusOK || strings.Contains(body, `id="payload"`) || !strings.Contains(body, "it is erased") {
		t.Errorf("reveal an erased payload: %d %s", res.StatusCode, body)
	}
	if n := len(b.audit(t)); n != entries {
		t.Errorf("%d audit entries after revealing nothing, want %d", n, entries)
	}
}

// The export downloads the API's JSON, byte for byte, and is audited the
// same way; an erasure is counted and audited as the API's is, and a
// subject that does not normalise gets the API's message.
func TestExportAndErase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.publish(t, map[string]any{"type": "user.created", "payload": map[string]any{"email": "ada@example.com", "html": "<i>"}})
	b.publish(t, map[string]any{"type": "note", "payload": "not an object",
		"subjects": []map[string]string{{"type": "email", "value": "Ada@Example.com"}}})
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	br := b.signIn(t, b.operator)

	code, want := b.call(t, "GET", "/v1/subjects/export?type=email&value=ada%40example.com", b.operator, nil, nil)
	if code != http.StatusOK {
		t.Fatalf("API export: %d %s", code, want)
	}
	res := br.post("/ui/export", url.Values{"type": {"email"}, "value": {" ADA@example.com"}})
	got := readBody(t, res)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") || got != string(want) {
		t.Errorf("export: %d %q\ngot  %s\nwant %s", res.StatusCode, res.Header, got, want)
	}
	audit := b.audit(t)
	for i, e := range audit[:2] { // the dashboard's, then the API's
		if e.Action != "subject.export" || e.ResourceID != "" || e.ActorKeyID != key.ID {
			t.Errorf("audit %d: %+v, want subject.export by %s", i, e, key.ID)
		}
	}

	for _, path := range []string{"/ui/export", "/ui/erasures"} {
		_, raw := b.call(t, "GET", "/v1/subjects/export?type=e+mail&value=x", b.operator, nil, nil)
		want := apiError(t, raw)
		what := map[string]string{"/ui/export": "Not exported: ", "/ui/erasures": "Not erased: "}[path]
		if got := flash(t, br.post(path, url.Values{"type": {"e mail"}, "value": {"x"}})); got != what+want {
			t.Errorf("%s with a bad type: got %q, want %q", path, got, what+want)
		}
	}

	res = br.post("/ui/erasures", url.Values{"type": {"email"}, "value": {"ada@example.com"}, "confirm": {"1"}})
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="erasure-result"`) || !strings.Contains(body, "2 events matched, 2 payloads erased") {
		t.Fatalf("erase: %d %s", res.StatusCode, body)
	}
	if strings.Contains(body, "ada@example.com") || strings.Contains(b.logs.String(), "ada@example.com") {
		t.Error("the erased subject's value is shown back or logged")
	}
	if e := b.audit(t)[0]; e.Action != "subject.erase" || e.ActorKeyID != key.ID {
		t.Errorf("audit %+v, want subject.erase by %s", e, key.ID)
	}
	if n := erasures(t, b); n != "1" {
		t.Errorf("sluice_erasures_total %s, want 1", n)
	}
}

// erasures reads the erasure counter from the metrics.
func erasures(t *testing.T, b *testBundle) string {
	t.Helper()
	res, err := http.Get(b.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	text, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(text)) {
		if v, ok := strings.CutPrefix(line, "sluice_erasures_total "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Every change and payload read the API keeps for admins is refused to a
// viewer by the dashboard too, in the API's words, and changes nothing.
func TestViewerIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var d struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "a", "url": "https://a.example.com"}, &d); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	id := b.publish(t, map[string]any{"type": "user.created", "payload": map[string]any{"email": "ada@example.com"}})
	_, token := b.viewer(t)
	br := b.signIn(t, token)
	entries := len(b.audit(t))
	forms := []struct {
		path string
		form url.Values
		want string
	}{
		{"/ui/destinations/" + d.ID + "/enabled", url.Values{"enabled": {"false"}}, "Not changed: " + forbidden},
		{"/ui/erasures", url.Values{"type": {"email"}, "value": {"ada@example.com"}}, "Not erased: " + forbidden},
		{"/ui/export", url.Values{"type": {"email"}, "value": {"ada@example.com"}}, "Not exported: " + forbidden},
	}
	if res := br.post("/ui/destinations", url.Values{"url": {"https://b.example.com"}}); res.StatusCode != http.StatusForbidden ||
		!strings.Contains(readBody(t, res), forbidden) {
		t.Errorf("create destination as a viewer: %d", res.StatusCode)
	}
	for _, f := range forms {
		if got := flash(t, br.post(f.path, f.form)); got != f.want {
			t.Errorf("%s: got %q, want %q", f.path, got, f.want)
		}
	}
	res := br.post("/ui/events/"+id+"/payload", url.Values{})
	body := readBody(t, res)
	if res.StatusCode != http.StatusForbidden || strings.Contains(body, "ada@example.com") || !strings.Contains(body, forbidden) {
		t.Errorf("reveal: %d %s", res.StatusCode, body)
	}
	if n := len(b.audit(t)); n != entries {
		t.Errorf("%d audit entries after the viewer's attempts, want %d", n, entries)
	}
	var list struct {
		Data []struct {
			ID      string
			Enabled bool
		}
	}
	b.call(t, "GET", "/v1/destinations", b.operator, nil, &list)
	if len(list.Data) != 1 || !list.Data[0].Enabled {
		t.Errorf("destinations after the viewer's attempts: %+v", list.Data)
	}
	if n := erasures(t, b); n != "0" {
		t.Errorf("sluice_erasures_total %s, want 0", n)
	}
	// The viewer still reads metadata.
	if code, body := br.get("/ui/events/" + id); code != http.StatusOK || strings.Contains(body, "show-payload") {
		t.Errorf("event page for a viewer: %d, payload button shown: %v", code, strings.Contains(body, "show-payload"))
	}
}

// A key deleted after signing in ends its sessions: the dashboard reads the
// key again on every request, as the API authenticates every call.
func TestDeletedKeyEndsItsSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keyID, token := b.viewer(t)
	br := b.signIn(t, token)
	if code, _ := br.get("/ui/events"); code != http.StatusOK {
		t.Fatalf("events page: %d", code)
	}
	if code, raw := b.call(t, "DELETE", "/v1/keys/"+keyID, b.operator, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete key: %d %s", code, raw)
	}
	res, err := br.client.Get(br.base + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		t.Errorf("after the key's deletion: %d to %q, want sign-in", res.StatusCode, res.Header.Get("Location"))
	}
}

// The data map page shows the map datamap builds, as the API serves it.
func TestDataMapPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var d struct{ ID string }
	b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "analytics", "url": "https://a.example.com",
		"fields": []string{"id"}}, &d)
	b.publish(t, map[string]any{"type": "user.created", "payload": map[string]any{"id": "u_1"}})
	_, token := b.viewer(t)
	code, body := b.signIn(t, token).get("/ui/datamap")
	for _, want := range []string{"published through the API", "user.created", "analytics", d.ID} {
		if !strings.Contains(body, want) {
			t.Errorf("data map page (%d) lacks %q", code, want)
		}
	}
	if code != http.StatusOK || strings.Contains(body, "u_1") {
		t.Errorf("data map page: %d, holds a payload value: %v", code, strings.Contains(body, "u_1"))
	}
}
