package auditlog

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// A row names the actor and the resource beside their ids, shows the
// changes as text, leaves a name that is gone empty, and defuses a cell a
// spreadsheet would read as a formula.
func TestRow(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	e := &sluice.AuditEntry{ID: "aud_1", ActorKeyID: "key_1", Action: "destination.update", ResourceID: "dst_1", At: at,
		Changes: []sluice.Change{{Field: "url", Old: "fp:aa", New: "fp:bb"}, {Field: "rate_limit_per_second", New: 5.0}}}
	names := Names{byID: map[string]string{"key_1": "@ops", "dst_2": "other"}}
	got := Row(e, names)
	want := []string{"aud_1", "2026-01-02T02:04:05.0000006Z", "key_1", "'@ops", "destination.update", "dst_1", "",
		`url: "fp:aa" → "fp:bb"; rate_limit_per_second: — → 5`}
	if !slices.Equal(got, want) {
		t.Fatalf("Row = %q,\nwant %q", got, want)
	}
	if sluiceRow := Row(&sluice.AuditEntry{ID: "aud_2", Action: "tenant.delete", At: at}, names); sluiceRow[2] != "" || sluiceRow[3] != "" {
		t.Fatalf("an entry of Sluice's own names an actor: %q", sluiceRow)
	}
}

// What a customer did in their portal names its actor, a portal session
// that has no name of its own, as the customer portal.
func TestPortalActorName(t *testing.T) {
	names := Names{byID: map[string]string{"key_1": "ops"}}
	e := &sluice.AuditEntry{ID: "aud_1", ActorKeyID: sluice.PrefixPortal + "01", Action: "destination.create",
		ResourceID: "dst_gone", At: time.Unix(0, 0)}
	if got := Row(e, names); got[3] != "customer portal" || got[6] != "" {
		t.Errorf("Row = %q, want the actor named customer portal and the gone destination nameless", got)
	}
}
