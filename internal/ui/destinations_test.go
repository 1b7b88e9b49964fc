package ui_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// A destination's page shows its settings and recent deliveries; its edit
// form changes it as PATCH does, and a refusal keeps what was typed with
// the API's message, in the dashboard's words, beside the field.
func TestDestinationPageAndEdit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	key := b.tenant(t)
	var mine, theirs struct{ ID string }
	for _, d := range []struct {
		name string
		out  *struct{ ID string }
	}{{"billing", &mine}, {"billing api", &theirs}} {
		if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": d.name,
			"url": "https://10.1.2.3/" + d.name[:7], "event_types": []string{"invoice.*"}, "rate_limit_per_second": 3}, d.out); code != http.StatusCreated {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	b.publish(t, map[string]any{"type": "invoice.paid", "payload": map[string]any{"id": 1}})

	code, page := br.get("/ui/destinations/" + mine.ID)
	for _, want := range []string{"https://10.1.2.3/billing", "invoice.*", "3/s", "active", "whole payload", "full", "/ui/events/evt_"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if code != http.StatusOK || strings.Contains(page, `id="secret-value"`) {
		t.Errorf("page: %d, secret shown: %v", code, strings.Contains(page, `id="secret-value"`))
	}
	if code, _ := br.get("/ui/destinations/dst_nosuch"); code != http.StatusNotFound {
		t.Errorf("no such destination: %d", code)
	}

	bad := url.Values{"name": {"billing"}, "url": {"http://hooks.example.com/x"}, "event_types": {"invoice.*"},
		"fields": {"id"}, "rate_limit_per_second": {"7"}, "delivery": {"full"}}
	res := br.post("/ui/destinations/"+mine.ID, bad)
	page = readBody(t, res)
	code, raw := b.call(t, "PATCH", "/v1/destinations/"+theirs.ID, b.operator, map[string]any{"url": "http://hooks.example.com/x"}, nil)
	want := apiError(t, raw)
	got := fieldError(t, page, "url")
	if code != http.StatusBadRequest || res.StatusCode != http.StatusBadRequest || !sameMessage(got, want) {
		t.Errorf("bad URL: %d, beside url %q, want %q", res.StatusCode, got, want)
	}
	if strings.Contains(page, "--allow") || !strings.Contains(got, "private destinations") {
		t.Errorf("the message names a flag or lost its meaning: %q", got)
	}
	for _, name := range []string{"url", "fields", "rate_limit_per_second"} {
		if inputValue(page, name) != bad.Get(name) {
			t.Errorf("bad URL: %s shows %q, want %q", name, inputValue(page, name), bad.Get(name))
		}
	}

	good := url.Values{"name": {"billing"}, "url": {"https://10.1.2.4/hooks"}, "event_types": {"invoice.*, customer.created"},
		"fields": {"id"}, "rate_limit_per_second": {"7"}, "delivery": {"full"}, "purpose": {"invoicing"}}
	if res := br.post("/ui/destinations/"+mine.ID, good); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", res.StatusCode, readBody(t, res))
	}
	if code, raw := b.call(t, "PATCH", "/v1/destinations/"+theirs.ID, b.operator, map[string]any{"url": "https://10.1.2.4/hooks",
		"event_types": []string{"invoice.*", "customer.created"}, "fields": []string{"id"}, "rate_limit_per_second": 7,
		"purpose": "invoicing"}, nil); code != http.StatusOK {
		t.Fatalf("API edit: %d %s", code, raw)
	}
	d, err := b.store.Destination(context.Background(), key.TenantID, mine.ID)
	if err != nil || d.URL != "https://10.1.2.4/hooks" || !slices.Equal(d.Fields, []string{"id"}) || d.RateLimitPerSecond != 7 ||
		!slices.Equal(d.EventTypes, []string{"invoice.*", "customer.created"}) || d.Processing.Purpose != "invoicing" {
		t.Errorf("after the edit: %+v (%v)", d, err)
	}
	entries := b.audit(t)
	if entries[1].Action != "destination.update" || entries[1].ResourceID != mine.ID || entries[1].ActorKeyID != key.ID ||
		!slices.Equal(changed(entries[1]), changed(entries[0])) {
		t.Errorf("audit: the dashboard's %+v %v, the API's %+v %v", entries[1], changed(entries[1]), entries[0], changed(entries[0]))
	}
}

// Revealing a destination's secret is for admins and audited as the API's
// GET …/secret; rotating it keeps the old one for the grace period given
// and is audited as the API's rotation. A viewer sees neither button and
// is refused both.
func TestRevealAndRotateSecret(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	key := b.tenant(t)
	var mine, theirs struct{ ID, Secret string }
	for _, d := range []struct {
		name string
		out  *struct{ ID, Secret string }
	}{{"a", &mine}, {"b", &theirs}} {
		if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": d.name,
			"url": "https://10.1.2.3/" + d.name}, d.out); code != http.StatusCreated {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	shown := func(page string) string {
		return html.UnescapeString(between(page, `<code id="secret-value">`, "</code>"))
	}

	res := br.post("/ui/destinations/"+mine.ID+"/secret", url.Values{})
	if page := readBody(t, res); res.StatusCode != http.StatusOK || shown(page) != mine.Secret {
		t.Errorf("reveal: %d, shown %q", res.StatusCode, shown(page))
	}
	b.call(t, "GET", "/v1/destinations/"+theirs.ID+"/secret", b.operator, nil, nil)
	entries := b.audit(t)
	if e := entries[1]; e.Action != entries[0].Action || e.Action != "destination.secret_read" || e.ResourceID != mine.ID ||
		e.ActorKeyID != key.ID || len(e.Changes) != len(entries[0].Changes) {
		t.Errorf("reveal audit: the dashboard's %+v, the API's %+v", e, entries[0])
	}

	res = br.post("/ui/destinations/"+mine.ID+"/rotate-secret", url.Values{"grace_period": {"1000h"}})
	page := readBody(t, res)
	code, raw := b.call(t, "POST", "/v1/destinations/"+theirs.ID+"/rotate-secret", b.operator, map[string]any{"grace_period": "1000h"}, nil)
	if want := apiError(t, raw); code != http.StatusBadRequest || res.StatusCode != http.StatusBadRequest ||
		fieldError(t, page, "grace_period") != want || inputValue(page, "grace_period") != "1000h" {
		t.Errorf("bad grace period: %d, beside it %q, want %q", res.StatusCode, fieldError(t, page, "grace_period"), want)
	}
	start := time.Now()
	res = br.post("/ui/destinations/"+mine.ID+"/rotate-secret", url.Values{"grace_period": {"2h"}})
	page = readBody(t, res)
	d, err := b.store.Destination(context.Background(), key.TenantID, mine.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || shown(page) != d.Secret || d.Secret == mine.Secret || d.PreviousSecret != mine.Secret ||
		d.PreviousSecretUntil.Before(start.Add(2*time.Hour)) || d.PreviousSecretUntil.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("rotate: %d, shown %q; stored %+v", res.StatusCode, shown(page), d)
	}
	if code, raw := b.call(t, "POST", "/v1/destinations/"+theirs.ID+"/rotate-secret", b.operator, map[string]any{"grace_period": "2h"}, nil); code != http.StatusOK {
		t.Fatalf("API rotate: %d %s", code, raw)
	}
	entries = b.audit(t)
	if e := entries[1]; e.Action != entries[0].Action || e.ResourceID != mine.ID || e.ActorKeyID != key.ID ||
		!slices.Equal(changed(e), changed(entries[0])) {
		t.Errorf("rotate audit: the dashboard's %+v %v, the API's %+v %v", e, changed(e), entries[0], changed(entries[0]))
	}
	for _, e := range entries[:2] {
		for _, c := range e.Changes {
			if s := changeText(c); strings.Contains(s, d.Secret) || strings.Contains(s, mine.Secret) {
				t.Errorf("the audit log holds a secret: %s", s)
			}
		}
	}

	_, token := b.viewer(t)
	vb := b.signIn(t, token)
	if code, page := vb.get("/ui/destinations/" + mine.ID); code != http.StatusOK || strings.Contains(page, "Reveal secret") ||
		strings.Contains(page, "Rotate secret") || strings.Contains(page, `id="edit-destination"`) {
		t.Errorf("viewer's page: %d, with action buttons", code)
	}
	n := len(b.audit(t))
	for _, path := range []string{"/secret", "/rotate-secret", ""} {
		res := vb.post("/ui/destinations/"+mine.ID+path, url.Values{"grace_period": {"0s"}, "name": {"x"}, "url": {"https://10.1.2.9/"}})
		if page := readBody(t, res); res.StatusCode != http.StatusForbidden || !strings.Contains(page, forbidden) ||
			strings.Contains(page, d.Secret) {
			t.Errorf("viewer POST %s: %d", path, res.StatusCode)
		}
	}
	if len(b.audit(t)) != n {
		t.Error("the viewer's attempts were audited")
	}
	if after, _ := b.store.Destination(context.Background(), key.TenantID, mine.ID); after.Secret != d.Secret || after.Name != "a" {
		t.Error("the viewer changed the destination")
	}
}

func changeText(c sluice.Change) string {
	return c.Field + " " + strings.TrimSpace(strings.ReplaceAll(html.EscapeString(toString(c.Old)+" "+toString(c.New)), "&#43;", "+"))
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
