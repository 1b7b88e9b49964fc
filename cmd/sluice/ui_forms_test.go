package main_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice"
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
