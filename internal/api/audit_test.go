package api_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// auditEntry is an audit entry as the API returns it.
type auditEntry struct {
	ID         string  `json:"id"`
	Action     string  `json:"action"`
	ResourceID *string `json:"resource_id"`
	Changes    []struct {
		Field string `json:"field"`
		Old   any    `json:"old"`
		New   any    `json:"new"`
	} `json:"changes"`
}

// change returns the entry's change of field, and whether it has one.
func (e auditEntry) change(field string) (old, new any, ok bool) {
	for _, c := range e.Changes {
		if c.Field == field {
			return c.Old, c.New, true
		}
	}
	return nil, nil, false
}

// A destination's history: what each change changed, the URL and secrets
// as fingerprints, only its own entries, only to its tenant.
func TestAuditResourceHistory(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, o setupOptions) {
		o.noDispatcher = true
		b := setupWith(t, o)
		const url1, url2 = "https://hooks.example.com/private-path-one", "https://hooks.example.com/private-path-two"
		d := b.destination(t, b.operator, map[string]any{"url": url1, "event_types": []string{"order.*"}})
		other := b.destination(t, b.operator, map[string]any{"url": url2})
		b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{"url": url2, "rate_limit_per_second": 10}).
			want(t, http.StatusOK, nil)
		var rotated struct{ Secret string }
		b.do(t, "POST", "/v1/destinations/"+d.ID+"/rotate-secret", b.operator, map[string]string{"grace_period": "1h"}).
			want(t, http.StatusOK, &rotated)
		b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{"url": url1}).want(t, http.StatusOK, nil)

		viewer := b.key(t, b.operator, sluice.RoleViewer)
		res := b.do(t, "GET", "/v1/audit?resource_id="+d.ID, viewer, nil)
		var list struct {
			Data       []auditEntry `json:"data"`
			NextCursor *string      `json:"next_cursor"`
		}
		res.want(t, http.StatusOK, &list)
		var actions []string
		for _, e := range list.Data {
			actions = append(actions, e.Action)
			if e.ResourceID == nil || *e.ResourceID != d.ID {
				t.Fatalf("entry %+v is not of %s", e, d.ID)
			}
		}
		want := []string{"destination.update", "destination.secret_rotate", "destination.update", "destination.create"}
		if !slices.Equal(actions, want) {
			t.Fatalf("history %v, want %v", actions, want)
		}
		back, rotate, update, create := list.Data[0], list.Data[1], list.Data[2], list.Data[3]
		_, fp1, _ := create.change("url")
		if s, _ := fp1.(string); !strings.HasPrefix(s, sluice.FingerprintPrefix) {
			t.Fatalf("created url = %#v, want a fingerprint", fp1)
		}
		if old, _, ok := update.change("url"); !ok || old != fp1 {
			t.Fatalf("update url from %#v, want %s", old, fp1)
		}
		if old, new, ok := update.change("rate_limit_per_second"); !ok || old != nil || new != float64(10) {
			t.Fatalf("update rate_limit_per_second %v to %v", old, new)
		}
		oldSecret, newSecret, _ := rotate.change("secret")
		if _, prev, _ := rotate.change("previous_secret"); prev != oldSecret || newSecret == oldSecret || newSecret == nil {
			t.Fatalf("rotation changes %+v", rotate.Changes)
		}
		if _, new, _ := back.change("url"); len(back.Changes) != 1 || new != fp1 {
			t.Fatalf("url changed back: %+v, want %s again", back.Changes, fp1)
		}
		for _, value := range []string{url1, url2, "private-path", "hooks.example.com", d.Secret, rotated.Secret} {
			if bytes.Contains(res.body, []byte(value)) {
				t.Fatalf("the audit log shows %q: %s", value, res.body)
			}
		}

		// Paged like every list, newest first.
		var page struct {
			Data       []auditEntry `json:"data"`
			NextCursor *string      `json:"next_cursor"`
		}
		b.do(t, "GET", "/v1/audit?limit=3&resource_id="+d.ID, b.operator, nil).want(t, http.StatusOK, &page)
		if len(page.Data) != 3 || page.NextCursor == nil || page.Data[0].ID != back.ID {
			t.Fatalf("first page %+v", page)
		}
		b.do(t, "GET", "/v1/audit?limit=3&resource_id="+d.ID+"&cursor="+*page.NextCursor, b.operator, nil).
			want(t, http.StatusOK, &page)
		if len(page.Data) != 1 || page.Data[0].ID != create.ID {
			t.Fatalf("second page %+v", page)
		}

		// Another destination's entries are not in it; another tenant sees
		// none of it.
		var others struct{ Data []auditEntry }
		b.do(t, "GET", "/v1/audit?resource_id="+other.ID, b.operator, nil).want(t, http.StatusOK, &others)
		if len(others.Data) != 1 || others.Data[0].Action != "destination.create" {
			t.Fatalf("history of the other destination: %+v", others.Data)
		}
		var theirs struct{ Data []auditEntry }
		b.do(t, "GET", "/v1/audit?resource_id="+d.ID, b.tenant(t, "acme"), nil).want(t, http.StatusOK, &theirs)
		if len(theirs.Data) != 0 {
			t.Fatalf("another tenant sees %d entries of %s", len(theirs.Data), d.ID)
		}

		// Every entry carries changes, empty when it changed nothing.
		var all struct{ Data []auditEntry }
		b.do(t, "GET", "/v1/audit?limit=500", b.operator, nil).want(t, http.StatusOK, &all)
		for _, e := range all.Data {
			if e.Changes == nil {
				t.Fatalf("entry %s has no changes list", e.Action)
			}
		}
		b.assertLogsClean(t, url1, url2, d.Secret, rotated.Secret)
	})
}

func TestAuditResourceIDInvalid(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	for _, id := range []string{"", "dst_%20x", "DST_NOPE", strings.Repeat("a", 65), "dst_1%3Bdrop"} {
		msg := b.do(t, "GET", "/v1/audit?resource_id="+id, b.operator, nil).wantError(t, http.StatusBadRequest, "invalid")
		if !strings.Contains(msg, "resource_id") {
			t.Errorf("resource_id %q: error %q does not name the parameter", id, msg)
		}
	}
}
