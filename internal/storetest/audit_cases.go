package storetest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// auditCases are the cases of what audit entries say changed.
var auditCases = []testCase{
	{name: "AuditChangesDestination", fn: testAuditChangesDestination},
	{name: "AuditChangesSource", fn: testAuditChangesSource},
	{name: "AuditChangesTenantAndKeys", fn: testAuditChangesTenantAndKeys},
	{name: "ResourceAudit", fn: testResourceAudit},
	{name: "AuditChangesCredentials", fn: testAuditChangesCredentials},
}

// A destination's headers and credentials show only as fingerprints, a
// header by its name.
func testAuditChangesCredentials(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	d.Headers = map[string]string{"X-Api-Key": "hdr-value-one"}
	d.Auth = sluice.DestinationAuth{Type: sluice.AuthBearer, Token: "bearer-token-one"}
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatalf("UpdateDestination: %v", err)
	}
	d.Headers = map[string]string{"X-Other": "hdr-value-two"}
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatalf("UpdateDestination: %v", err)
	}
	entries, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: d.ID}, sluice.Page{})
	if err != nil || len(entries) != 3 {
		t.Fatalf("AuditEntries by resource = %d entries, %v", len(entries), err)
	}
	first, second := changesOf(entries[1]), changesOf(entries[0])
	key := wantFingerprint(t, "headers.X-Api-Key", first["headers.X-Api-Key"].New)
	wantFingerprint(t, "auth.token", first["auth.token"].New)
	if len(first) != 3 || first["auth.type"].New != sluice.AuthBearer {
		t.Fatalf("first update = %+v, want a header, auth.type and auth.token", entries[1].Changes)
	}
	if len(second) != 2 || second["headers.X-Api-Key"].Old != key || second["headers.X-Api-Key"].New != nil {
		t.Fatalf("second update = %+v, want X-Api-Key removed and X-Other added", entries[0].Changes)
	}
	wantFingerprint(t, "headers.X-Other", second["headers.X-Other"].New)
	wantNoValues(t, entries, "hdr-value", "bearer-token")
}

// changesOf returns an entry's changes by field.
func changesOf(e *sluice.AuditEntry) map[string]sluice.Change {
	out := make(map[string]sluice.Change, len(e.Changes))
	for _, c := range e.Changes {
		out[c.Field] = c
	}
	return out
}

// wantFingerprint fails unless v is a fingerprint.
func wantFingerprint(t *testing.T, what string, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, sluice.FingerprintPrefix) || len(s) != len(sluice.FingerprintPrefix)+16 {
		t.Fatalf("%s = %#v, want a fingerprint", what, v)
	}
	return s
}

// wantNoValues fails if any of the values appears in the entries.
func wantNoValues(t *testing.T, entries []*sluice.AuditEntry, values ...string) {
	t.Helper()
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if strings.Contains(string(b), v) {
			t.Fatalf("the audit log shows %q: %s", v, b)
		}
	}
}

func testAuditChangesDestination(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	const (
		url1    = "https://billing.example.com/hooks/abc"
		url2    = "https://billing.example.com/hooks/xyz"
		secret1 = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
		secret2 = "whsec_b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcg=="
	)
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "billing",
		URL: url1, EventTypes: []string{"invoice.*"}, Secret: secret1, Enabled: true}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	// An update of two fields, one of them the URL.
	d.URL, d.RateLimitPerSecond = url2, 10
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatalf("UpdateDestination: %v", err)
	}
	// A rotation: a new secret, the old one kept for a grace period.
	until := b.clock.Now().Add(24 * time.Hour).UTC()
	d.PreviousSecret, d.PreviousSecretUntil, d.Secret = d.Secret, until, secret2
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatalf("UpdateDestination (rotate): %v", err)
	}
	// The URL changed back, and nothing else.
	d.URL = url1
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatalf("UpdateDestination: %v", err)
	}
	// An update that changes nothing records no change.
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatalf("UpdateDestination: %v", err)
	}
	if err := b.store.DeleteDestination(ctx, ten.ID, d.ID); err != nil {
		t.Fatalf("DeleteDestination: %v", err)
	}
	entries, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: d.ID}, sluice.Page{})
	if err != nil {
		t.Fatalf("AuditEntries by resource: %v", err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	want := []string{"destination.delete", "destination.update", "destination.update", "destination.secret_rotate",
		"destination.update", "destination.create"}
	if !reflect.DeepEqual(actions, want) {
		t.Fatalf("actions = %v, want %v", actions, want)
	}
	del, none, back, rotate, update, create := entries[0], entries[1], entries[2], entries[3], entries[4], entries[5]

	// Creation: every field set, from null.
	c := changesOf(create)
	for _, f := range []string{"name", "kind", "url", "event_types", "enabled", "secret"} {
		if ch, ok := c[f]; !ok || ch.Old != nil || ch.New == nil {
			t.Fatalf("create: %s = %+v, want from null to a value (changes %+v)", f, ch, create.Changes)
		}
	}
	for _, f := range []string{"rate_limit_per_second", "previous_secret", "fields", "disabled_reason"} {
		if ch, ok := c[f]; ok {
			t.Fatalf("create: unset field %s recorded: %+v", f, ch)
		}
	}
	if c["name"].New != "billing" || c["enabled"].New != true {
		t.Fatalf("create: changes %+v", create.Changes)
	}
	fp1 := wantFingerprint(t, "create url", c["url"].New)
	secretFP1 := wantFingerprint(t, "create secret", c["secret"].New)

	// Update: only what changed, the URL as fingerprints.
	if len(update.Changes) != 2 {
		t.Fatalf("update changes = %+v, want url and rate_limit_per_second", update.Changes)
	}
	u := changesOf(update)
	if u["url"].Old != fp1 || wantFingerprint(t, "update url", u["url"].New) == fp1 {
		t.Fatalf("update url = %+v, want from %s to another fingerprint", u["url"], fp1)
	}
	if r := u["rate_limit_per_second"]; r.Old != nil || r.New != float64(10) {
		t.Fatalf("update rate_limit_per_second = %+v, want null to 10", r)
	}

	// Rotation: the secrets' fingerprints; the old secret is now the
	// previous one.
	r := changesOf(rotate)
	if len(rotate.Changes) != 3 || r["secret"].Old != secretFP1 || r["previous_secret"].Old != nil ||
		r["previous_secret"].New != secretFP1 || r["previous_secret_until"].New != until.Format(time.RFC3339Nano) {
		t.Fatalf("rotate changes = %+v, want secret, previous_secret (%s) and its end", rotate.Changes, secretFP1)
	}
	wantFingerprint(t, "rotated secret", r["secret"].New)

	// Changed back: the same fingerprint as at first.
	if len(back.Changes) != 1 || back.Changes[0].Field != "url" || back.Changes[0].New != fp1 {
		t.Fatalf("changed back = %+v, want url back to %s", back.Changes, fp1)
	}
	if none.Changes != nil {
		t.Fatalf("an update that changed nothing recorded %+v", none.Changes)
	}

	// Deletion: every field set, to null.
	dc := changesOf(del)
	if dc["url"].Old != fp1 || dc["url"].New != nil || dc["name"].Old != "billing" || dc["rate_limit_per_second"].Old != float64(10) {
		t.Fatalf("delete changes = %+v", del.Changes)
	}
	wantNoValues(t, entries, url1, url2, secret1, secret2, "billing.example.com", "c2VjcmV0c2Vj", "b3RoZXJvdGhl")
}

func testAuditChangesSource(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	const secret1, secret2 = "whsec_stripe_first_secret_value", "whsec_stripe_second_secret_value"
	src := &sluice.Source{ID: sluice.NewID(sluice.PrefixSource), TenantID: ten.ID, Name: "stripe",
		Verification: sluice.Verification{Type: sluice.VerifyStripe, Secret: secret1}, Enabled: true}
	if err := b.store.CreateSource(ctx, src); err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
	src.Verification.Secret, src.Name = secret2, "stripe live"
	if err := b.store.UpdateSource(ctx, src); err != nil {
		t.Fatalf("UpdateSource: %v", err)
	}
	if err := b.store.DeleteSource(ctx, ten.ID, src.ID); err != nil {
		t.Fatalf("DeleteSource: %v", err)
	}
	entries, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: src.ID}, sluice.Page{})
	if err != nil || len(entries) != 3 {
		t.Fatalf("AuditEntries by resource = %d entries, %v; want 3", len(entries), err)
	}
	create, update, del := changesOf(entries[2]), changesOf(entries[1]), changesOf(entries[0])
	fp1 := wantFingerprint(t, "create secret", create["verification.secret"].New)
	if create["verification.type"].New != sluice.VerifyStripe || create["name"].New != "stripe" {
		t.Fatalf("create changes = %+v", entries[2].Changes)
	}
	if len(update) != 2 || update["verification.secret"].Old != fp1 || update["name"].New != "stripe live" {
		t.Fatalf("update changes = %+v", entries[1].Changes)
	}
	fp2 := wantFingerprint(t, "update secret", update["verification.secret"].New)
	if fp2 == fp1 || del["verification.secret"].Old != fp2 || del["verification.secret"].New != nil {
		t.Fatalf("delete changes = %+v", entries[0].Changes)
	}
	wantNoValues(t, entries, secret1, secret2, "first_secret", "second_secret")
}

func testAuditChangesTenantAndKeys(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	got, err := b.store.Tenant(b.ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Name, got.Retention.Delivered = "acme", 48*time.Hour
	if err := b.store.UpdateTenant(ctx, got); err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	k := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: ten.ID, Name: "ci", Role: sluice.RoleViewer,
		TokenHash: sluice.HashToken("ci-token")}
	if err := b.store.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if err := b.store.DeleteAPIKey(ctx, ten.ID, k.ID); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	history, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: ten.ID}, sluice.Page{})
	if err != nil || len(history) != 2 {
		t.Fatalf("tenant history = %d entries, %v; want create and update", len(history), err)
	}
	if c := changesOf(history[1]); history[1].Action != "tenant.create" || c["name"].Old != nil || c["name"].New != "a" {
		t.Fatalf("tenant.create changes = %+v", history[1].Changes)
	}
	want := []sluice.Change{{Field: "name", Old: "a", New: "acme"}, {Field: "payload_retention", Old: nil, New: "48h0m0s"}}
	if !reflect.DeepEqual(history[0].Changes, want) {
		t.Fatalf("tenant.update changes = %+v, want %+v", history[0].Changes, want)
	}
	keys, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: k.ID}, sluice.Page{})
	if err != nil || len(keys) != 2 {
		t.Fatalf("key history = %d entries, %v", len(keys), err)
	}
	wantCreate := []sluice.Change{{Field: "name", New: "ci"}, {Field: "role", New: "viewer"}}
	wantDelete := []sluice.Change{{Field: "name", Old: "ci"}, {Field: "role", Old: "viewer"}}
	if !reflect.DeepEqual(keys[1].Changes, wantCreate) || !reflect.DeepEqual(keys[0].Changes, wantDelete) {
		t.Fatalf("key changes = %+v then %+v", keys[1].Changes, keys[0].Changes)
	}
}

// A resource's history is its own entries only, newest first, paged, and
// only its tenant's.
func testResourceAudit(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, _ := b.tenant(t, "b")
	d1 := b.destination(t, ctx, ten.ID, "*")
	d2 := b.destination(t, ctx, ten.ID, "*")
	for i := range 3 {
		d1.RateLimitPerSecond = i + 1
		if err := b.store.UpdateDestination(ctx, d1); err != nil {
			t.Fatalf("UpdateDestination: %v", err)
		}
	}
	if err := b.store.RecordAudit(ctx, &sluice.AuditEntry{TenantID: ten.ID, Action: "destination.secret_read",
		ResourceID: d2.ID}); err != nil {
		t.Fatalf("RecordAudit: %v", err)
	}
	var all []*sluice.AuditEntry
	page := sluice.Page{Limit: 2}
	for {
		entries, next, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: d1.ID}, page)
		if err != nil {
			t.Fatalf("AuditEntries by resource: %v", err)
		}
		all = append(all, entries...)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if len(all) != 4 {
		t.Fatalf("history of %s = %d entries, want 4", d1.ID, len(all))
	}
	for i, e := range all {
		if e.ResourceID != d1.ID || e.TenantID != ten.ID {
			t.Fatalf("entry %d = %+v, not of %s", i, e, d1.ID)
		}
		if i > 0 && e.ID >= all[i-1].ID {
			t.Fatalf("entries not newest first: %s after %s", e.ID, all[i-1].ID)
		}
	}
	if c := all[0].Changes; len(c) != 1 || c[0].Old != float64(2) || c[0].New != float64(3) {
		t.Fatalf("newest change = %+v, want rate_limit_per_second 2 to 3", c)
	}
	if theirs, _, err := b.store.AuditEntries(b.ctx, other.ID, sluice.AuditFilter{ResourceID: d1.ID}, sluice.Page{}); err != nil || len(theirs) != 0 {
		t.Fatalf("another tenant sees %d entries of %s, %v", len(theirs), d1.ID, err)
	}
	if none, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: "dst_unknown"}, sluice.Page{}); err != nil || len(none) != 0 {
		t.Fatalf("unknown resource: %d entries, %v", len(none), err)
	}
}
