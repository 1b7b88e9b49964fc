package main_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// In a real browser, an operator runs sources and destinations from the
// dashboard: creates a source and copies its ingest URL, creates a
// destination and sees its secret once, reveals it again (audited),
// rotates it, and edits the destination with a bad URL, getting the
// reason beside the field with what was typed kept. Screenshots of each
// page are saved.
func TestDashboardFormsInBrowser(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer rcv.Close()
	dir := screenshots(t)
	var png []byte
	ctx := browser(t, 1280, 900)

	// Source: create it, then copy its ingest URL with the button.
	var ingest, copied, button string
	err := chromedp.Run(ctx, signIn(p.url, token),
		cdpbrowser.SetPermission(&cdpbrowser.PermissionDescriptor{Name: "clipboard-read"}, cdpbrowser.PermissionSettingGranted).WithOrigin(p.url),
		cdpbrowser.SetPermission(&cdpbrowser.PermissionDescriptor{Name: "clipboard-write"}, cdpbrowser.PermissionSettingGranted).WithOrigin(p.url),
		chromedp.Navigate(p.url+"/ui/sources"),
		chromedp.WaitVisible(`#new-source`, chromedp.ByID),
		chromedp.SendKeys(`#name`, "shop", chromedp.ByID),
		chromedp.SetValue(`#verification\.type`, "stripe", chromedp.ByQuery),
		chromedp.SendKeys(`#verification\.secret`, "whsec_browser", chromedp.ByQuery),
		chromedp.SendKeys(`#subject_paths`, "data.object.email email", chromedp.ByID),
		shot(dir, "sources-new", &png),
		chromedp.Submit(`#name`, chromedp.ByID),
		chromedp.WaitVisible(`#ingest-url`, chromedp.ByID),
		chromedp.Text(`#ingest-url`, &ingest, chromedp.ByID),
		chromedp.Click(`button[data-copy="ingest-url"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//button[@data-copy="ingest-url" and text()="Copied"]`),
		chromedp.Text(`button[data-copy="ingest-url"]`, &button, chromedp.ByQuery),
		chromedp.Evaluate(`navigator.clipboard.readText()`, &copied, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
		shot(dir, "source", &png),
		chromedp.Navigate(p.url+"/ui/sources"),
		chromedp.WaitVisible(`code.ingest`, chromedp.ByQuery),
		shot(dir, "sources", &png),
	)
	if err != nil || !strings.HasPrefix(ingest, p.url+"/in/src_") || copied != ingest || button != "Copied" {
		t.Fatalf("source: ingest URL %q, copied %q, button %q, %v", ingest, copied, button, err)
	}

	// Destination: created with its secret shown once, revealed, rotated.
	var created, again, revealed, rotated string
	var secretShown int
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/destinations"),
		chromedp.WaitVisible(`#new-destination`, chromedp.ByID),
		chromedp.SendKeys(`#name`, "billing", chromedp.ByID),
		chromedp.SendKeys(`#url`, rcv.URL+"/hooks", chromedp.ByID),
		chromedp.Submit(`#name`, chromedp.ByID),
		chromedp.WaitVisible(`#secret-value`, chromedp.ByID),
		chromedp.Text(`#secret-value`, &created, chromedp.ByID),
		shot(dir, "destination-created", &png),
		chromedp.Click(`//a[text()="Destinations"]`),
		chromedp.WaitVisible(`//a[text()="billing"]`),
		shot(dir, "destinations-list", &png),
		chromedp.Click(`//a[text()="billing"]`),
		chromedp.WaitVisible(`#reveal-secret`, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll("#secret-value").length`, &secretShown),
		chromedp.Text(`main`, &again, chromedp.ByQuery),
		shot(dir, "destination", &png),
		chromedp.Click(`#reveal-secret button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[contains(., "this reading is in the audit log")]`),
		chromedp.Text(`#secret-value`, &revealed, chromedp.ByID),
		shot(dir, "destination-revealed", &png),
		chromedp.SetValue(`#grace_period`, "1h", chromedp.ByID),
		chromedp.Click(`#rotate-secret button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[contains(., "The secret is rotated")]`),
		chromedp.Text(`#secret-value`, &rotated, chromedp.ByID),
		shot(dir, "destination-rotated", &png),
	)
	if err != nil || !strings.HasPrefix(created, "whsec_") || secretShown != 0 || strings.Contains(again, created) ||
		revealed != created || !strings.HasPrefix(rotated, "whsec_") || rotated == created {
		t.Fatalf("destination secret: created %q, shown again %d, revealed %q, rotated %q, %v",
			created, secretShown, revealed, rotated, err)
	}
	var audit struct {
		Data []struct {
			Action string `json:"action"`
		} `json:"data"`
	}
	call(t, "GET", p.url+"/v1/audit", token, nil, &audit)
	var actions []string
	for _, e := range audit.Data {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "destination.secret_read") || !strings.Contains(got, "destination.secret_rotate") {
		t.Errorf("audit log after reveal and rotate: %s", got)
	}

	// Edit with a bad URL: the reason beside the field, the input kept.
	var fieldErr, kept, keptTypes string
	err = chromedp.Run(ctx,
		chromedp.WaitVisible(`#edit-destination`, chromedp.ByID),
		chromedp.SetValue(`#edit-destination #url`, "ftp://hooks.example.com/x", chromedp.ByQuery),
		chromedp.SetValue(`#edit-destination #event_types`, "invoice.*", chromedp.ByQuery),
		chromedp.Submit(`#edit-destination #url`, chromedp.ByQuery),
		chromedp.WaitVisible(`#edit-destination .field-error`, chromedp.ByQuery),
		chromedp.Text(`#edit-destination #url + .field-error`, &fieldErr, chromedp.ByQuery),
		chromedp.Value(`#edit-destination #url`, &kept, chromedp.ByQuery),
		chromedp.Value(`#edit-destination #event_types`, &keptTypes, chromedp.ByQuery),
		chromedp.ScrollIntoView(`#edit-destination`, chromedp.ByID),
		shot(dir, "destination-edit-error", &png),
	)
	if err != nil || !strings.HasPrefix(fieldErr, "url: ") || kept != "ftp://hooks.example.com/x" || keptTypes != "invoice.*" {
		t.Fatalf("bad URL: beside the field %q, kept %q and %q, %v", fieldErr, kept, keptTypes, err)
	}
}

// In a real browser, against the real binary: an operator gives a
// destination Basic auth and a header, and a real receiver gets both on
// the next delivery; changes the header with the password left empty, and
// the next delivery still carries the password; creates a destination
// with a rate limit and a purpose under "More settings", as the API then
// shows it; and deletes it, asked first, after which the API knows it no
// more and the audit log has the deletion. Screenshots of each step are
// saved.
func TestDashboardDestinationSettingsInBrowser(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	var mu sync.Mutex
	var got []http.Header
	rcv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Clone())
	}))
	defer rcv.Close()
	// deliveredWith publishes an event and waits for the receiver to get
	// it, returning its Authorization and X-Tenant headers.
	deliveredWith := func() (auth, tenant string) {
		t.Helper()
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "crm.created",
			"payload": map[string]any{"id": n}}, nil); code != http.StatusAccepted {
			t.Fatalf("publish: %d", code)
		}
		testkit.WaitFor(t, 20*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) > n
		}, func() string { return "the event was not delivered" })
		mu.Lock()
		defer mu.Unlock()
		return got[n].Get("Authorization"), got[n].Get("X-Tenant")
	}
	var crm struct{ ID string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "crm", "url": rcv.URL + "/crm",
		"event_types": []string{"crm.*"}}, &crm); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	dir := screenshots(t)
	var png []byte
	ctx := browser(t, 1280, 900)

	// Basic auth and a header, set in the edit form.
	var flash string
	err := chromedp.Run(ctx, signIn(p.url, token),
		chromedp.Navigate(p.url+"/ui/destinations/"+crm.ID),
		chromedp.WaitVisible(`#edit-destination`, chromedp.ByID),
		chromedp.SetValue(`#auth\.type`, "basic", chromedp.ByQuery),
		chromedp.SendKeys(`#auth\.username`, "alice", chromedp.ByQuery),
		chromedp.SendKeys(`#auth\.password`, "pw-browser", chromedp.ByQuery),
		chromedp.SendKeys(`#header_name_0`, "X-Tenant", chromedp.ByID),
		chromedp.SendKeys(`#header_value_0`, "acme", chromedp.ByID),
		chromedp.ScrollIntoView(`#auth`, chromedp.ByID),
		shot(dir, "destination-edit-auth", &png),
		chromedp.Submit(`#edit-destination #name`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
		chromedp.Text(`.flash`, &flash, chromedp.ByQuery),
		shot(dir, "destination-edited-auth", &png),
	)
	if err != nil || flash != "Saved destination "+crm.ID+"." {
		t.Fatalf("edit auth and a header: %q, %v", flash, err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw-browser"))
	if auth, tenant := deliveredWith(); auth != basic || tenant != "acme" {
		t.Fatalf("first delivery: Authorization %q, X-Tenant %q", auth, tenant)
	}

	// The header changed, the password left empty: it is kept.
	var password string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/destinations/"+crm.ID),
		chromedp.WaitVisible(`#edit-destination`, chromedp.ByID),
		chromedp.Value(`#auth\.password`, &password, chromedp.ByQuery),
		chromedp.SetValue(`#header_value_0`, "globex", chromedp.ByID),
		chromedp.Submit(`#edit-destination #name`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
	)
	if err != nil || password != "" {
		t.Fatalf("edit the header: password shown %q, %v", password, err)
	}
	if auth, tenant := deliveredWith(); auth != basic || tenant != "globex" {
		t.Fatalf("second delivery: Authorization %q, X-Tenant %q", auth, tenant)
	}

	// Created with a rate limit and a purpose under "More settings".
	var ledger string
	var closed bool
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/destinations"),
		chromedp.WaitVisible(`#new-destination`, chromedp.ByID),
		chromedp.Evaluate(`!document.getElementById("more-settings").open`, &closed),
		chromedp.SendKeys(`#name`, "ledger", chromedp.ByID),
		chromedp.SendKeys(`#url`, rcv.URL+"/ledger", chromedp.ByID),
		chromedp.Click(`#more-settings summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#rate_limit_per_second`, chromedp.ByID),
		chromedp.SendKeys(`#rate_limit_per_second`, "5", chromedp.ByID),
		chromedp.SendKeys(`#purpose`, "bookkeeping", chromedp.ByID),
		shot(dir, "destinations-more-settings", &png),
		chromedp.Submit(`#new-destination #name`, chromedp.ByQuery),
		chromedp.WaitVisible(`#secret-value`, chromedp.ByID),
		chromedp.Text(`dl.facts dd code`, &ledger, chromedp.ByQuery),
	)
	if err != nil || !closed || !strings.HasPrefix(ledger, "dst_") {
		t.Fatalf("create with More settings: closed at first %v, id %q, %v", closed, ledger, err)
	}
	var shown struct {
		RateLimit int    `json:"rate_limit_per_second"`
		Purpose   string `json:"purpose"`
	}
	if code := call(t, "GET", p.url+"/v1/destinations/"+ledger, token, nil, &shown); code != http.StatusOK ||
		shown.RateLimit != 5 || shown.Purpose != "bookkeeping" {
		t.Fatalf("the API shows %d %+v", code, shown)
	}

	// Deleted: asked first, then gone.
	var confirmText string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/destinations/"+ledger),
		chromedp.WaitVisible(`#delete-destination`, chromedp.ByID),
		chromedp.Click(`#delete-destination button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#confirm`, chromedp.ByID),
		chromedp.Text(`#confirm`, &confirmText, chromedp.ByID),
		shot(dir, "destination-delete-confirm", &png),
	)
	if err != nil || !strings.Contains(confirmText, "Delete ledger?") || !strings.Contains(confirmText, "cannot be undone") {
		t.Fatalf("delete, first step: %q, %v", confirmText, err)
	}
	if code := call(t, "GET", p.url+"/v1/destinations/"+ledger, token, nil, nil); code != http.StatusOK {
		t.Fatalf("deleted before it was confirmed: %d", code)
	}
	err = chromedp.Run(ctx,
		chromedp.Click(`#confirm-button`, chromedp.ByID),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
		chromedp.Text(`.flash`, &flash, chromedp.ByQuery),
		shot(dir, "destination-deleted", &png),
	)
	if err != nil || flash != fmt.Sprintf("Deleted destination ledger (%s).", ledger) {
		t.Fatalf("delete, confirmed: %q, %v", flash, err)
	}
	if code := call(t, "GET", p.url+"/v1/destinations/"+ledger, token, nil, nil); code != http.StatusNotFound {
		t.Errorf("after the delete, the API answers %d", code)
	}
	var audit struct {
		Data []struct {
			Action     string `json:"action"`
			ResourceID string `json:"resource_id"`
		} `json:"data"`
	}
	call(t, "GET", p.url+"/v1/audit?action=destination.delete", token, nil, &audit)
	if len(audit.Data) != 1 || audit.Data[0].Action != "destination.delete" || audit.Data[0].ResourceID != ledger {
		t.Errorf("the audit log's deletions: %+v", audit.Data)
	}
	t.Logf("screenshots in %s", dir)
}
