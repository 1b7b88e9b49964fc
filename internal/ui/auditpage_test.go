package ui_test

import (
	"context"
	"encoding/csv"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/ui"
)

// auditRows are the rows of the audit page's table.
var auditRows = regexp.MustCompile(`(?s)<tr>\s*<td>.*?</tr>`)

// link returns the address of the page's element with the id, unescaped,
// or "" when there is none.
func link(page, id string) string {
	m := regexp.MustCompile(`href="([^"]*)"[^>]*id="` + id + `"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// auditWorld is a tenant's log for the audit page tests: a destination
// "billing" and a source "stripe" created by the operator, a key "ci
// deploy" that changes the destination, and a destination created and
// deleted, whose name is gone.
type auditWorld struct {
	dst, src, gone, ciID, ci string
}

func newAuditWorld(t *testing.T, b *testBundle) auditWorld {
	t.Helper()
	var w auditWorld
	var d, g, s struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "billing",
		"url": "https://hooks.example.com/private-audit"}, &d); code != http.StatusCreated {
		t.Fatalf("create destination: %d %s", code, raw)
	}
	if code, raw := b.call(t, "POST", "/v1/sources", b.operator, map[string]any{"name": "stripe",
		"verification": map[string]string{"type": "none"}}, &s); code != http.StatusCreated {
		t.Fatalf("create source: %d %s", code, raw)
	}
	if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "short-lived",
		"url": "https://hooks.example.com/gone"}, &g); code != http.StatusCreated {
		t.Fatalf("create destination: %d %s", code, raw)
	}
	if code, raw := b.call(t, "DELETE", "/v1/destinations/"+g.ID, b.operator, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete destination: %d %s", code, raw)
	}
	w.dst, w.src, w.gone = d.ID, s.ID, g.ID
	w.ciID, w.ci = b.keyCreated(t, map[string]any{"name": "ci deploy", "role": "admin"})
	if code, raw := b.call(t, "PATCH", "/v1/destinations/"+w.dst, w.ci, map[string]any{"rate_limit_per_second": 7}, nil); code != http.StatusOK {
		t.Fatalf("update destination: %d %s", code, raw)
	}
	return w
}

// The audit page names the keys and resources beside their ids (a
// deleted one by its id alone), shows the changes, and filters by key,
// action or action prefix and resource.
func TestAuditPageNamesAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newAuditWorld(t, b)
	br := b.signIn(t, b.operator)

	code, page := br.get("/ui/audit")
	if code != http.StatusOK {
		t.Fatalf("audit page: %d %.300s", code, page)
	}
	rows := auditRows.FindAllString(page, -1)
	if len(rows) < 7 {
		t.Fatalf("audit page shows %d rows, want every entry: %s", len(rows), page)
	}
	// Newest first: the sign-in, then ci deploy's change.
	if !strings.Contains(rows[0], "session.sign_in") {
		t.Errorf("newest row = %s, want the sign-in", rows[0])
	}
	update := rows[1]
	for _, want := range []string{"destination.update", "<strong>billing</strong>", w.dst, "<strong>ci deploy</strong>",
		w.ciID, "rate_limit_per_second: — → 7"} {
		if !strings.Contains(update, want) {
			t.Errorf("the update's row lacks %q: %s", want, update)
		}
	}
	// A deleted destination shows by its id alone (its name is in the
	// changes of its creation and deletion).
	if strings.Contains(page, "<strong>short-lived</strong>") || !strings.Contains(page, w.gone) {
		t.Errorf("the deleted destination %s is named, or missing", w.gone)
	}
	if strings.Contains(page, "private-audit") {
		t.Error("the audit page shows a destination's URL")
	}
	if !strings.Contains(page, `<option value="`+w.ciID+`" >ci deploy · admin</option>`) &&
		!strings.Contains(page, `<option value="`+w.ciID+`">ci deploy · admin</option>`) {
		t.Errorf("the key select lacks ci deploy: %s", page)
	}

	for _, tt := range []struct {
		query   string
		actions []string
		names   []string
	}{
		{"action=destination.", []string{"destination.update", "destination.delete", "destination.create", "destination.create"}, nil},
		{"action=source.create", []string{"source.create"}, []string{"stripe"}},
		{"actor_key_id=" + w.ciID, []string{"destination.update"}, []string{"billing", "ci deploy"}},
		{"resource_id=" + w.gone, []string{"destination.delete", "destination.create"}, nil},
		{"actor_key_id=" + w.ciID + "&action=source.", nil, nil},
	} {
		code, page := br.get("/ui/audit?" + tt.query)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", tt.query, code)
		}
		rows := auditRows.FindAllString(page, -1)
		if len(rows) != len(tt.actions) {
			t.Errorf("%s: %d rows, want %v", tt.query, len(rows), tt.actions)
			continue
		}
		for i, a := range tt.actions {
			if !strings.Contains(rows[i], ">"+a+"<") {
				t.Errorf("%s: row %d = %s, want %s", tt.query, i, rows[i], a)
			}
		}
		for _, n := range tt.names {
			if !strings.Contains(page, "<strong>"+n+"</strong>") {
				t.Errorf("%s: no name %q", tt.query, n)
			}
		}
		if len(tt.actions) == 0 && !strings.Contains(page, "No entries match.") {
			t.Errorf("%s: no empty state", tt.query)
		}
		// The deleted destination has no name to show.
		if strings.Contains(tt.query, w.gone) && strings.Contains(page, "<strong>short-lived</strong>") {
			t.Errorf("a deleted destination is named: %s", page)
		}
	}
}

// A filter of the wrong shape is refused next to the form, the input kept,
// with the API's message naming the field.
func TestAuditPageInvalidFilter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	for _, tt := range []struct{ query, field, kept string }{
		{"action=Destination.Update", "action:", `value="Destination.Update"`},
		{"actor_key_id=alice", "actor_key_id:", `value="alice" selected`},
		{"resource_id=dst-1%3Bdrop", "resource_id:", `value="dst-1;drop"`},
		{"since=yesterday", "since:", `value="yesterday"`},
		{"since=2026-01-02T10:00&until=2026-01-02T09:00", "until:", `value="2026-01-02T09:00"`},
		{"cursor=nope", "cursor:", ""},
	} {
		code, page := br.get("/ui/audit?" + tt.query)
		if code != http.StatusBadRequest || !strings.Contains(page, `role="alert">`+tt.field) ||
			!strings.Contains(page, `id="audit-filter"`) || !strings.Contains(page, tt.kept) {
			t.Errorf("%s: %d, want 400 naming %s with the input kept: %s", tt.query, code, tt.field, page)
		}
		if code, _ := br.get("/ui/audit.csv?" + tt.query); code != http.StatusBadRequest && tt.kept != "" {
			t.Errorf("%s: CSV %d, want 400", tt.query, code)
		}
	}
}

// The audit page pages through a filtered log: older, and newer again,
// fifty entries a page, each page's links keeping the filter.
func TestAuditPagePaging(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	b := setupAt(t, clock.Now)
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now().Add(time.Hour)
	for i := range 120 {
		action := "destination.update"
		if i%2 == 1 {
			action = "source.update"
		}
		if err := b.store.RecordAudit(context.Background(), &sluice.AuditEntry{TenantID: key.TenantID, ActorKeyID: key.ID,
			Action: action, ResourceID: key.ID, At: start.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	br := b.signIn(t, b.operator)
	// 60 destination.update entries from the window's start: pages of 50
	// and 10. An hour after start the window leaves out the first 30.
	path := "/ui/audit?action=destination.&since=" + url.QueryEscape(start.Format("2006-01-02T15:04"))
	code, first := br.get(path)
	if code != http.StatusOK {
		t.Fatalf("first page: %d", code)
	}
	firstRows := auditRows.FindAllString(first, -1)
	if len(firstRows) != 50 || link(first, "audit-newer") != "" || link(first, "audit-older") == "" {
		t.Fatalf("first page: %d rows, newer %q, older %q", len(firstRows), link(first, "audit-newer"), link(first, "audit-older"))
	}
	older := link(first, "audit-older")
	if !strings.Contains(older, "action=destination.") || !strings.Contains(older, "since=") {
		t.Fatalf("older link %q drops the filter", older)
	}
	_, second := br.get(older)
	secondRows := auditRows.FindAllString(second, -1)
	if len(secondRows) != 10 || link(second, "audit-older") != "" || link(second, "audit-newer") == "" {
		t.Fatalf("second page: %d rows, older %q", len(secondRows), link(second, "audit-older"))
	}
	for _, r := range append(firstRows, secondRows...) {
		if !strings.Contains(r, ">destination.update<") {
			t.Fatalf("a row outside the filter: %s", r)
		}
	}
	if secondRows[0] == firstRows[49] {
		t.Fatal("the second page repeats the first's last row")
	}
	_, back := br.get(link(second, "audit-newer"))
	if rows := auditRows.FindAllString(back, -1); len(rows) != 50 || rows[0] != firstRows[0] || link(back, "audit-newer") != "" {
		t.Fatalf("newer from the second page: %d rows, not the first page", len(rows))
	}
	// Until is exclusive: the window's start alone.
	_, one := br.get("/ui/audit?action=destination.update&since=" + url.QueryEscape(start.Format("2006-01-02T15:04")) +
		"&until=" + url.QueryEscape(start.Add(time.Minute).Format("2006-01-02T15:04")))
	if rows := auditRows.FindAllString(one, -1); len(rows) != 1 {
		t.Fatalf("a one-minute window: %d rows, want 1", len(rows))
	}
}

// The CSV link downloads the filtered log with names, for a viewer too,
// and shows no URL or secret.
func TestAuditPageCSV(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newAuditWorld(t, b)
	_, viewer := b.viewer(t)
	br := b.signIn(t, viewer)
	_, page := br.get("/ui/audit?action=destination.")
	csvLink := link(page, "audit-csv")
	if csvLink != "/ui/audit.csv?action=destination." {
		t.Fatalf("CSV link %q, want the page's filter", csvLink)
	}
	res, err := br.client.Get(br.base + csvLink)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, res)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %d %v", res.StatusCode, res.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v\n%s", err, body)
	}
	if len(rows) != 5 || strings.Join(rows[0], ",") != "id,at,actor_key_id,actor_name,action,resource_id,resource_name,changes" {
		t.Fatalf("CSV rows %q, want a header and 4 destination entries", rows)
	}
	if r := rows[1]; r[2] != w.ciID || r[3] != "ci deploy" || r[4] != "destination.update" || r[6] != "billing" ||
		r[7] != "rate_limit_per_second: — → 7" {
		t.Errorf("newest row %q", r)
	}
	if strings.Contains(body, "private-audit") || strings.Contains(body, "hooks.example.com") {
		t.Error("the CSV shows a destination's URL")
	}
}

// countingStore counts the listings that name entries.
type countingStore struct {
	*engine.Store
	keys, dests, srcs atomic.Int32
}

func (c *countingStore) APIKeys(ctx context.Context, tenantID string, p sluice.Page) ([]*sluice.APIKey, string, error) {
	c.keys.Add(1)
	return c.Store.APIKeys(ctx, tenantID, p)
}

func (c *countingStore) Destinations(ctx context.Context, tenantID string, p sluice.Page) ([]*sluice.Destination, string, error) {
	c.dests.Add(1)
	return c.Store.Destinations(ctx, tenantID, p)
}

func (c *countingStore) Sources(ctx context.Context, tenantID string, p sluice.Page) ([]*sluice.Source, string, error) {
	c.srcs.Add(1)
	return c.Store.Sources(ctx, tenantID, p)
}

// A page of many entries lists the keys, destinations and sources once to
// name them all, not once a row.
func TestAuditPageNamesReadOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	newAuditWorld(t, b)
	counting := &countingStore{Store: b.store}
	srv := httptest.NewServer(ui.New(ui.Config{Store: counting}))
	t.Cleanup(srv.Close)
	br := b.signIn(t, b.operator)
	br.base = srv.URL
	if _, err := br.client.PostForm(srv.URL+"/ui/login", url.Values{"token": {b.operator}}); err != nil {
		t.Fatal(err)
	}
	counting.keys.Store(0)
	code, page := br.get("/ui/audit")
	if rows := auditRows.FindAllString(page, -1); code != http.StatusOK || len(rows) < 8 {
		t.Fatalf("audit page: %d, %d rows", code, len(rows))
	}
	if k, d, s := counting.keys.Load(), counting.dests.Load(), counting.srcs.Load(); k != 1 || d != 1 || s != 1 {
		t.Fatalf("listed keys %d, destinations %d, sources %d times for one page; want once each", k, d, s)
	}
}
