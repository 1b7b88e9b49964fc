package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The audit page shows what each change changed, the
// URL only as a fingerprint.
func TestAuditChangesShown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const hook = "https://hooks.example.com/private-path"
	var d struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "a", "url": hook}, &d); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	br := b.signIn(t, b.operator)
	br.post("/ui/destinations/"+d.ID+"/enabled", url.Values{"enabled": {"false"}, "confirm": {"1"}})
	e := b.audit(t)[0]
	if e.Action != "destination.update" || len(e.Changes) != 2 || e.Changes[0].Field != "enabled" ||
		e.Changes[0].Old != true || e.Changes[0].New != false || e.Changes[1].New != "manual" {
		t.Fatalf("audit %+v, want enabled true to false and disabled_reason manual", e)
	}
	_, page := br.get("/ui/audit")
	for _, want := range []string{"enabled: true → false", `disabled_reason: — → &#34;manual&#34;`, "url: — → &#34;fp:"} {
		if !strings.Contains(page, want) {
			t.Errorf("the audit page lacks %q", want)
		}
	}
	if strings.Contains(page, "private-path") {
		t.Error("the audit page shows the destination's URL")
	}
}
