package main_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice"
)

// syncGet fetches the address in the page's own session, cookies and
// all, and returns "status\ncontent type\nbody".
const syncGet = `(() => { const x = new XMLHttpRequest(); x.open("GET", %q, false); x.send();
	return x.status + "\n" + x.getResponseHeader("Content-Type") + "\n" + x.responseText; })()`

// In a real browser: a key makes sixty destination changes; the audit page
// shows them with the key's and the destinations' names, filters them by
// action, by key and by time, pages to the older ones and back, and its
// CSV link downloads the filtered entries with the session's cookie.
// Screenshots of each state are saved.
func TestAuditPageInBrowser(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	var ci struct{ ID, Token string }
	if code := call(t, "POST", p.url+"/v1/keys", token, map[string]any{"name": "ci deploy", "role": "admin"}, &ci); code != http.StatusCreated {
		t.Fatalf("create key: %d", code)
	}
	const url = "http://127.0.0.1:9/private-audit-hook"
	for i := range 30 {
		var d struct{ ID string }
		if code := call(t, "POST", p.url+"/v1/destinations", ci.Token, map[string]any{"name": fmt.Sprintf("shop-%02d", i),
			"url": url}, &d); code != http.StatusCreated {
			t.Fatalf("create destination: %d", code)
		}
		if code := call(t, "PATCH", p.url+"/v1/destinations/"+d.ID, ci.Token, map[string]any{"rate_limit_per_second": i + 1}, nil); code != http.StatusOK {
			t.Fatalf("update destination: %d", code)
		}
	}
	dir := screenshots(t)
	var png []byte
	ctx := browser(t, 1280, 900)
	rows := func(n *int) chromedp.Action {
		return chromedp.Evaluate(`document.querySelectorAll("#audit-log tbody tr").length`, n)
	}

	// The whole log, newest first, names beside ids.
	var all int
	var newest string
	err := chromedp.Run(ctx, signIn(p.url, token),
		chromedp.Click(`//nav/a[text()="Audit log"]`),
		chromedp.WaitVisible(`#audit-log`, chromedp.ByID),
		rows(&all),
		chromedp.Text(`#audit-log tbody tr:nth-child(2)`, &newest, chromedp.ByQuery),
		shot(dir, "audit", &png),
	)
	if err != nil || all != 50 {
		t.Fatalf("audit page: %d rows, %v", all, err)
	}
	for _, want := range []string{"destination.update", "shop-29", "ci deploy", ci.ID, "rate_limit_per_second: — → 30"} {
		if !strings.Contains(newest, want) {
			t.Errorf("the newest change's row %q lacks %q", newest, want)
		}
	}

	// Filtered by action: sixty entries, fifty then ten.
	var first, second, back int
	var actions []string
	err = chromedp.Run(ctx,
		chromedp.SetValue(`input[name="action"]`, "destination.", chromedp.ByQuery),
		chromedp.Submit(`input[name="action"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#audit-older`, chromedp.ByID),
		rows(&first),
		shot(dir, "audit-filtered", &png),
		chromedp.Click(`#audit-older`, chromedp.ByID),
		chromedp.WaitVisible(`#audit-newer`, chromedp.ByID),
		rows(&second),
		chromedp.Evaluate(`[...document.querySelectorAll("#audit-log tbody tr td:nth-child(2)")].map(td => td.textContent)`, &actions),
		shot(dir, "audit-page-2", &png),
		chromedp.Click(`#audit-newer`, chromedp.ByID),
		chromedp.WaitVisible(`#audit-older`, chromedp.ByID),
		rows(&back),
	)
	if err != nil || first != 50 || second != 10 || back != 50 {
		t.Fatalf("paging the filtered log: %d, then %d, back %d rows; %v", first, second, back, err)
	}
	for _, a := range actions {
		if a != "destination.create" && a != "destination.update" {
			t.Fatalf("the filtered second page shows %q", a)
		}
	}

	// By key and action together, then a window in the future.
	var byKey, future int
	var empty string
	err = chromedp.Run(ctx,
		chromedp.SetValue(`select[name="actor_key_id"]`, ci.ID, chromedp.ByQuery),
		chromedp.SetValue(`input[name="action"]`, "destination.update", chromedp.ByQuery),
		chromedp.Submit(`input[name="action"]`, chromedp.ByQuery),
		chromedp.WaitReady(`//option[@selected and contains(., "ci deploy")]`),
		rows(&byKey),
		shot(dir, "audit-by-key", &png),
		chromedp.SetValue(`input[name="since"]`, "2999-01-01T00:00", chromedp.ByQuery),
		chromedp.Submit(`input[name="since"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[contains(., "No entries match")]`),
		chromedp.Text(`.empty`, &empty, chromedp.ByQuery),
		rows(&future),
	)
	if err != nil || byKey != 30 || future != 0 {
		t.Fatalf("by key: %d rows, in the future %d (%q); %v", byKey, future, empty, err)
	}

	// The CSV of the filter on screen: every entry, not only a page.
	var href, got string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/audit?action=destination."),
		chromedp.WaitVisible(`#audit-csv`, chromedp.ByID),
		chromedp.JavascriptAttribute(`#audit-csv`, "href", &href, chromedp.ByID),
	)
	if err == nil {
		err = chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(syncGet, href), &got))
	}
	if err != nil {
		t.Fatalf("download the CSV: %v", err)
	}
	status, rest, _ := strings.Cut(got, "\n")
	contentType, body, _ := strings.Cut(rest, "\n")
	if status != "200" || !strings.HasPrefix(contentType, "text/csv") {
		t.Fatalf("CSV %s: %s %s: %.300s", href, status, contentType, body)
	}
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(records) != 61 || records[0][0] != "id" {
		t.Fatalf("CSV: %d rows, %v", len(records), err)
	}
	if r := records[1]; r[3] != "ci deploy" || r[4] != "destination.update" || r[6] != "shop-29" {
		t.Errorf("CSV newest row %q", r)
	}
	if strings.Contains(body, "private-audit-hook") {
		t.Error("the CSV shows a destination's URL")
	}
	t.Logf("screenshots in %s", dir)
}
