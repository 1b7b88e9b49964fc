package api_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// auditFixture is a tenant's log for the filter tests: a destination and a
// source changed by the operator, then, an hour later, a key the operator
// created changing the destination again.
type auditFixture struct {
	b           *testBundle
	clock       *testkit.Clock
	opID, ciID  string // the keys' ids
	ci          string // the second key's token
	dst         destination
	srcID       string
	later       time.Time // when the second key's change was made
	url, secret string    // the destination's, never to be shown
}

func newAuditFixture(t *testing.T, o setupOptions) *auditFixture {
	t.Helper()
	clock := testkit.NewClock()
	o.noDispatcher, o.now = true, clock.Now
	b := setupWith(t, o)
	f := &auditFixture{b: b, clock: clock, url: "https://hooks.example.com/private-audit-path"}
	f.dst = b.destination(t, b.operator, map[string]any{"name": "=billing", "url": f.url})
	f.secret = f.dst.Secret
	var src struct{ ID string }
	b.do(t, "POST", "/v1/sources", b.operator, map[string]any{"name": "stripe",
		"verification": map[string]string{"type": "none"}}).want(t, http.StatusCreated, &src)
	f.srcID = src.ID
	var key struct{ ID, Token string }
	b.do(t, "POST", "/v1/keys", b.operator, map[string]any{"name": "ci deploy", "role": sluice.RoleAdmin}).
		want(t, http.StatusCreated, &key)
	f.ciID, f.ci = key.ID, key.Token
	var keys struct {
		Data []struct{ ID, Name string }
	}
	b.do(t, "GET", "/v1/keys", b.operator, nil).want(t, http.StatusOK, &keys)
	for _, k := range keys.Data {
		if k.Name == "operator" {
			f.opID = k.ID
		}
	}
	clock.Advance(time.Hour)
	f.later = clock.Now()
	b.do(t, "PATCH", "/v1/destinations/"+f.dst.ID, f.ci, map[string]any{"rate_limit_per_second": 5}).
		want(t, http.StatusOK, nil)
	return f
}

// actions lists the actions of GET /v1/audit with the query.
func (f *auditFixture) actions(t *testing.T, query url.Values) []string {
	t.Helper()
	var list struct {
		Data []struct {
			Action     string  `json:"action"`
			ActorKeyID *string `json:"actor_key_id"`
		} `json:"data"`
	}
	f.b.do(t, "GET", "/v1/audit?"+query.Encode(), f.b.operator, nil).want(t, http.StatusOK, &list)
	var out []string
	for _, e := range list.Data {
		out = append(out, e.Action)
	}
	return out
}

// The log's filters: by the key that acted, an action or every action of
// a prefix, a resource, and a time window, alone and together.
func TestAuditFilters(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, o setupOptions) {
		f := newAuditFixture(t, o)
		later := f.later.Format(time.RFC3339)
		for _, tt := range []struct {
			query url.Values
			want  []string
		}{
			{url.Values{"actor_key_id": {f.ciID}}, []string{"destination.update"}},
			{url.Values{"action": {"source.create"}}, []string{"source.create"}},
			{url.Values{"action": {"destination."}}, []string{"destination.update", "destination.create"}},
			{url.Values{"action": {"key."}, "actor_key_id": {f.opID}}, []string{"key.create"}},
			{url.Values{"resource_id": {f.srcID}}, []string{"source.create"}},
			{url.Values{"since": {later}}, []string{"destination.update"}},
			{url.Values{"until": {later}, "action": {"destination."}}, []string{"destination.create"}},
			{url.Values{"since": {f.later.Add(-time.Minute).Format(time.RFC3339Nano)}, "until": {later}}, nil},
			{url.Values{"actor_key_id": {f.ciID}, "action": {"source."}}, nil},
		} {
			if got := f.actions(t, tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("%s: %v, want %v", tt.query.Encode(), got, tt.want)
			}
		}
		// Filtered lists page like the whole log.
		var page struct {
			Data       []struct{ Action string } `json:"data"`
			NextCursor *string                   `json:"next_cursor"`
		}
		f.b.do(t, "GET", "/v1/audit?action=destination.&limit=1", f.b.operator, nil).want(t, http.StatusOK, &page)
		if len(page.Data) != 1 || page.NextCursor == nil {
			t.Fatalf("first page %+v", page)
		}
		f.b.do(t, "GET", "/v1/audit?action=destination.&limit=1&cursor="+*page.NextCursor, f.b.operator, nil).
			want(t, http.StatusOK, &page)
		if len(page.Data) != 1 || page.Data[0].Action != "destination.create" || page.NextCursor != nil {
			t.Fatalf("second page %+v", page)
		}
	})
}

// A filter of the wrong shape is 400, naming the parameter.
func TestAuditFiltersInvalid(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	for _, tt := range []struct{ query, param string }{
		{"actor_key_id=alice", "actor_key_id"},
		{"actor_key_id=", "actor_key_id"},
		{"action=Destination.Update", "action"},
		{"action=destination..update", "action"},
		{"action=", "action"},
		{"action=%27%20OR%201%3D1", "action"},
		{"since=yesterday", "since"},
		{"until=2026-01-02", "until"},
		{"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
		{"since=2026-01-02T00:00:00Z&until=2026-01-02T00:00:00Z", "until"},
		{"format=xml", "format"},
		{"format=csv&action=Nope", "action"},
	} {
		msg := b.do(t, "GET", "/v1/audit?"+tt.query, b.operator, nil).wantError(t, http.StatusBadRequest, "invalid")
		if !strings.HasPrefix(msg, tt.param+":") {
			t.Errorf("%s: error %q does not name %s", tt.query, msg, tt.param)
		}
	}
}

// ?format=csv downloads every entry the filters match, with the names of
// the keys and resources beside their ids, and no URL or secret.
func TestAuditCSV(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, o setupOptions) {
		f := newAuditFixture(t, o)
		viewer := f.b.key(t, f.b.operator, sluice.RoleViewer)
		res := f.b.do(t, "GET", "/v1/audit?format=csv&limit=1&action=destination.", viewer, nil)
		if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(res.header.Get("Content-Disposition"), "audit-log.csv") {
			t.Fatalf("status %d, headers %v: %s", res.status, res.header, res.body)
		}
		rows, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
		if err != nil {
			t.Fatalf("read CSV: %v\n%s", err, res.body)
		}
		want := []string{"id", "at", "actor_key_id", "actor_name", "action", "resource_id", "resource_name", "changes"}
		if len(rows) != 3 || !slices.Equal(rows[0], want) {
			t.Fatalf("CSV = %q, want a header and both destination entries (limit does not apply)", rows)
		}
		update, create := rows[1], rows[2]
		if update[2] != f.ciID || update[3] != "ci deploy" || update[4] != "destination.update" ||
			update[5] != f.dst.ID || update[6] != "'=billing" || update[7] != "rate_limit_per_second: — → 5" {
			t.Errorf("update row = %q", update)
		}
		if at, err := time.Parse(time.RFC3339Nano, update[1]); err != nil || !at.Equal(f.later) {
			t.Errorf("update at = %q, want %s", update[1], f.later)
		}
		if create[3] != "operator" || !strings.Contains(create[7], `url: — → "fp:`) {
			t.Errorf("create row = %q", create)
		}
		for _, secret := range []string{f.url, "private-audit-path", f.secret} {
			if strings.Contains(string(res.body), secret) {
				t.Fatalf("the CSV shows %q", secret)
			}
		}
		f.b.assertLogsClean(t, f.url, f.secret)
	})
}
