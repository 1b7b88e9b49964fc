package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// auditFilterCases are the cases of reading the audit log by a filter.
var auditFilterCases = []testCase{
	{name: "AuditFilter", fn: testAuditFilter},
	{name: "AuditFilterPages", fn: testAuditFilterPages},
	{name: "AuditFilterInvalid", fn: testAuditFilterInvalid},
}

// auditFixture writes the tenant's entries of the filter cases, oldest
// first, a minute apart from an hour after the clock's time, and returns their ids by a
// short name.
func auditFixture(t *testing.T, b *bundle, tenantID string) (map[string]string, time.Time) {
	t.Helper()
	// After the tenant's own entries (its creation, its first key).
	start := b.clock.Now().Add(time.Hour).Truncate(time.Second)
	alice, bob := sluice.NewID(sluice.PrefixKey), sluice.NewID(sluice.PrefixKey)
	dst, src := sluice.NewID(sluice.PrefixDestination), sluice.NewID(sluice.PrefixSource)
	ids := map[string]string{"alice": alice, "bob": bob, "dst": dst, "src": src}
	for i, e := range []struct{ name, actor, action, resource string }{
		{"create", alice, "destination.create", dst},
		{"read", bob, "destination.secret_read", dst},
		{"source", alice, "source.update", src},
		{"update", alice, "destination.update", dst},
		{"odd", bob, "destinationx.update", dst},
		{"sluice", "", "destination.disable", dst},
	} {
		entry := &sluice.AuditEntry{TenantID: tenantID, ActorKeyID: e.actor, Action: e.action, ResourceID: e.resource,
			At: start.Add(time.Duration(i) * time.Minute)}
		if err := b.store.RecordAudit(b.ctx, entry); err != nil {
			t.Fatalf("RecordAudit: %v", err)
		}
		ids[e.name] = entry.ID
	}
	return ids, start
}

// Each filter, and filters together, select only the entries they match,
// newest first, and only the tenant's.
func testAuditFilter(t *testing.T, b *bundle) {
	ten, _ := b.tenant(t, "a")
	other, _ := b.tenant(t, "b")
	ids, start := auditFixture(t, b, ten.ID)
	if err := b.store.RecordAudit(b.ctx, &sluice.AuditEntry{TenantID: other.ID, ActorKeyID: ids["alice"],
		Action: "destination.update", ResourceID: ids["dst"], At: start}); err != nil {
		t.Fatalf("RecordAudit: %v", err)
	}
	for _, tt := range []struct {
		name   string
		filter sluice.AuditFilter
		want   []string
	}{
		{"actor", sluice.AuditFilter{ActorKeyID: ids["alice"]}, []string{"update", "source", "create"}},
		{"exact action", sluice.AuditFilter{Action: "destination.update"}, []string{"update"}},
		{"action prefix", sluice.AuditFilter{Action: "destination."}, []string{"sluice", "update", "read", "create"}},
		{"prefix of a word is no prefix", sluice.AuditFilter{Action: "destin."}, nil},
		{"underscore is no wildcard", sluice.AuditFilter{Action: "destination.secret_reax"}, nil},
		{"resource", sluice.AuditFilter{ResourceID: ids["src"]}, []string{"source"}},
		{"since", sluice.AuditFilter{Since: start.Add(3 * time.Minute)}, []string{"sluice", "odd", "update"}},
		{"until is exclusive", sluice.AuditFilter{Since: start, Until: start.Add(2 * time.Minute)}, []string{"read", "create"}},
		{"window", sluice.AuditFilter{Since: start.Add(time.Minute), Until: start.Add(4 * time.Minute)},
			[]string{"update", "source", "read"}},
		{"together", sluice.AuditFilter{ActorKeyID: ids["alice"], Action: "destination.", ResourceID: ids["dst"],
			Since: start.Add(time.Second)}, []string{"update"}},
		{"unknown actor", sluice.AuditFilter{ActorKeyID: sluice.NewID(sluice.PrefixKey)}, nil},
	} {
		entries, next, err := b.store.AuditEntries(b.ctx, ten.ID, tt.filter, sluice.Page{})
		if err != nil || next != "" {
			t.Fatalf("%s: AuditEntries = next %q, %v", tt.name, next, err)
		}
		var want, got []string
		for _, n := range tt.want {
			want = append(want, ids[n])
		}
		for _, e := range entries {
			if e.TenantID != ten.ID {
				t.Fatalf("%s: entry %s of tenant %s", tt.name, e.ID, e.TenantID)
			}
			got = append(got, e.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v (names %v)", tt.name, got, want, tt.want)
		}
	}
}

// A filtered list pages newest first, a page's cursor leading on to the
// next of the filter's entries only.
func testAuditFilterPages(t *testing.T, b *bundle) {
	ten, _ := b.tenant(t, "a")
	ids, _ := auditFixture(t, b, ten.ID)
	f := sluice.AuditFilter{Action: "destination."}
	var got []string
	page := sluice.Page{Limit: 3}
	pages := 0
	for {
		entries, next, err := b.store.AuditEntries(b.ctx, ten.ID, f, page)
		if err != nil {
			t.Fatalf("AuditEntries: %v", err)
		}
		pages++
		for _, e := range entries {
			got = append(got, e.ID)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	want := []string{ids["sluice"], ids["update"], ids["read"], ids["create"]}
	if pages != 2 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d pages of %v, want 2 pages of %v", pages, got, want)
	}
}

// A filter of the wrong shape is EINVALID, naming the field.
func testAuditFilterInvalid(t *testing.T, b *bundle) {
	ten, _ := b.tenant(t, "a")
	now := b.clock.Now()
	for _, tt := range []struct {
		filter sluice.AuditFilter
		field  string
	}{
		{sluice.AuditFilter{ActorKeyID: "alice"}, "actor_key_id"},
		{sluice.AuditFilter{Action: "Destination.Update"}, "action"},
		{sluice.AuditFilter{Action: "destination..update"}, "action"},
		{sluice.AuditFilter{Action: "' OR 1=1 --"}, "action"},
		{sluice.AuditFilter{ResourceID: "dst-1; DROP"}, "resource_id"},
		{sluice.AuditFilter{Since: now, Until: now}, "until"},
	} {
		_, _, err := b.store.AuditEntries(b.ctx, ten.ID, tt.filter, sluice.Page{})
		if sluice.ErrorCode(err) != sluice.EINVALID || !strings.HasPrefix(sluice.ErrorMessage(err), tt.field+":") {
			t.Errorf("AuditEntries(%+v) = %v, want EINVALID naming %s", tt.filter, err, tt.field)
		}
	}
}
