package main_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice"
)

// In a real browser, a tenant's customer uses a portal link: sees only its
// own endpoints, adds one (its secret shown once), edits it, disables and
// enables it, rotates its secret, sends a test event that a real receiver
// verifies with the rotated secret, and opens the delivery's attempts.
// Another customer's endpoint, opened by its id, is the same 404 as none;
// the link works once; the audit log lists the portal's actions under the
// portal session. Screenshots of each portal page are saved.
func TestPortalInBrowser(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	rcv := newReceiver(t)
	other := newReceiver(t)
	dir := screenshots(t)
	var png []byte
	ctx := browser(t, 1280, 900)

	var theirs, mine struct{ ID, Name, URL string }
	for _, d := range []struct {
		out            *struct{ ID, Name, URL string }
		customer, name string
	}{{&theirs, "cus_b", "b-billing"}, {&mine, "cus_a", "a-billing"}} {
		body := map[string]any{"name": d.name, "url": other.srv.URL + "/" + d.name, "customer": d.customer}
		if code := call(t, "POST", p.url+"/v1/destinations", token, body, d.out); code != http.StatusCreated {
			t.Fatalf("create %s: %d", d.name, code)
		}
	}
	var link struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	if code := call(t, "POST", p.url+"/v1/portal-sessions", token, map[string]any{
		"scope": map[string]any{"customer": "cus_a", "payloads": false}, "link_ttl_seconds": 300, "session_ttl_seconds": 3600,
	}, &link); code != http.StatusCreated || !strings.HasPrefix(link.URL, p.url+sluice.PortalSignInPath) {
		t.Fatalf("portal link: %d %q", code, link.URL)
	}

	// Sign in: only customer A's endpoints.
	var list string
	err := chromedp.Run(ctx,
		chromedp.Navigate(link.URL),
		chromedp.WaitVisible(`#new-endpoint`, chromedp.ByID),
		chromedp.OuterHTML(`html`, &list, chromedp.ByQuery),
		shot(dir, "portal-endpoints", &png),
	)
	if err != nil || !strings.Contains(list, "Webhooks for cus_a") || !strings.Contains(list, mine.Name) ||
		strings.Contains(list, theirs.Name) || strings.Contains(list, theirs.ID) || strings.Contains(list, "/ui/") {
		t.Fatalf("the portal's list: %v\n%s", err, list)
	}

	// Add an endpoint: its secret is shown once.
	var created, shownAgain string
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#name`, "orders", chromedp.ByID),
		chromedp.SendKeys(`#url`, rcv.srv.URL+"/hooks", chromedp.ByID),
		chromedp.SendKeys(`#event_types`, "order.paid order.refunded", chromedp.ByID),
		chromedp.Submit(`#name`, chromedp.ByID),
		chromedp.WaitVisible(`#secret-value`, chromedp.ByID),
		chromedp.Text(`#secret-value`, &created, chromedp.ByID),
		shot(dir, "portal-created", &png),
		chromedp.Navigate(p.url+"/portal/"),
		chromedp.WaitVisible(`//a[text()="orders"]`),
		chromedp.Click(`//a[text()="orders"]`),
		chromedp.WaitVisible(`#edit-endpoint`, chromedp.ByID),
		chromedp.OuterHTML(`html`, &shownAgain, chromedp.ByQuery),
		shot(dir, "portal-endpoint", &png),
	)
	if err != nil || !strings.HasPrefix(created, "whsec_") || strings.Contains(shownAgain, created) {
		t.Fatalf("add an endpoint: secret %q, shown again %v, %v", created, strings.Contains(shownAgain, created), err)
	}
	var dest struct {
		ID       string `json:"id"`
		Customer string `json:"customer"`
	}
	var all struct {
		Data []struct {
			ID, Name, Customer string
		} `json:"data"`
	}
	call(t, "GET", p.url+"/v1/destinations", token, nil, &all)
	for _, d := range all.Data {
		if d.Name == "orders" {
			dest.ID, dest.Customer = d.ID, d.Customer
		}
	}
	if dest.ID == "" || dest.Customer != "cus_a" {
		t.Fatalf("the endpoint added: %+v", dest)
	}

	// Edit, disable, enable, rotate.
	var saved, disabled, enabled, rotated string
	err = chromedp.Run(ctx,
		chromedp.SetValue(`#edit-endpoint #name`, "orders v2", chromedp.ByQuery),
		chromedp.SetValue(`#edit-endpoint #event_types`, "order.*", chromedp.ByQuery),
		chromedp.Submit(`#edit-endpoint #name`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[@class="flash" and text()="Saved."]`),
		chromedp.Text(`#endpoint-name`, &saved, chromedp.ByID),
		chromedp.Click(`#disable`, chromedp.ByID),
		chromedp.WaitVisible(`#enable`, chromedp.ByID),
		chromedp.Text(`#endpoint-state`, &disabled, chromedp.ByID),
		shot(dir, "portal-disabled", &png),
		chromedp.Click(`#enable`, chromedp.ByID),
		chromedp.WaitVisible(`#disable`, chromedp.ByID),
		chromedp.Text(`#endpoint-state`, &enabled, chromedp.ByID),
		chromedp.SetValue(`#grace_period`, "1h", chromedp.ByID),
		chromedp.Click(`#rotate-secret button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[contains(., "The secret is rotated")]`),
		chromedp.Text(`#secret-value`, &rotated, chromedp.ByID),
		shot(dir, "portal-rotated", &png),
	)
	if err != nil || saved != "orders v2" || !strings.HasPrefix(disabled, "disabled") || !strings.HasPrefix(enabled, "active") ||
		!strings.HasPrefix(rotated, "whsec_") || rotated == created {
		t.Fatalf("edit %q, disabled %q, enabled %q, rotated %q: %v", saved, disabled, enabled, rotated, err)
	}

	// A test event, verified by the receiver with the new secret.
	rcv.setSecret(rotated)
	var sent string
	err = chromedp.Run(ctx,
		chromedp.Click(`#send-test button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[@class="flash" and contains(., "Test event")]`),
		chromedp.Text(`.flash`, &sent, chromedp.ByQuery),
	)
	eventID := regexp.MustCompile(`evt_[0-9A-Z]{26}`).FindString(sent)
	if err != nil || eventID == "" {
		t.Fatalf("send a test event: %q, %v", sent, err)
	}
	if missing := rcv.waitFor([]string{eventID}, 30*time.Second); missing != 0 {
		t.Fatalf("the test event did not arrive, verified, at the receiver\n%s", p.log())
	}
	// The page shows the delivery once the attempt is recorded.
	deadline := time.Now().Add(30 * time.Second)
	var row string
	for {
		err = chromedp.Run(ctx, chromedp.Navigate(p.url+"/portal/destinations/"+dest.ID),
			chromedp.WaitVisible(`#deliveries`, chromedp.ByID), chromedp.Text(`#deliveries`, &row, chromedp.ByID))
		if err != nil || strings.Contains(row, "succeeded") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !strings.Contains(row, "succeeded") || !strings.Contains(row, "HTTP 204") {
		t.Fatalf("the delivery on the endpoint's page: %q, %v", row, err)
	}
	var attempts, payloadButtons string
	err = chromedp.Run(ctx,
		shot(dir, "portal-endpoint-delivered", &png),
		chromedp.Click(`a[href="/portal/destinations/`+dest.ID+`/events/`+eventID+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#attempts`, chromedp.ByID),
		chromedp.Text(`#attempts`, &attempts, chromedp.ByID),
		chromedp.Evaluate(`String(document.querySelectorAll("#show-payload").length)`, &payloadButtons),
		shot(dir, "portal-delivery", &png),
	)
	if err != nil || !strings.Contains(attempts, "succeeded") || !strings.Contains(attempts, "204") || payloadButtons != "0" {
		t.Fatalf("the delivery's attempts: %q, payload buttons %s, %v", attempts, payloadButtons, err)
	}

	// Customer B's endpoint by its id: the 404 of none, nothing of it shown.
	var refused, refusedHTML, noneHTML string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/portal/destinations/"+theirs.ID),
		chromedp.WaitVisible(`#error`, chromedp.ByID),
		chromedp.Text(`#error`, &refused, chromedp.ByID),
		chromedp.OuterHTML(`html`, &refusedHTML, chromedp.ByQuery),
		shot(dir, "portal-refused", &png),
		chromedp.Navigate(p.url+"/portal/destinations/"+sluice.NewID(sluice.PrefixDestination)),
		chromedp.WaitVisible(`#error`, chromedp.ByID),
		chromedp.OuterHTML(`html`, &noneHTML, chromedp.ByQuery),
	)
	if err != nil || refused != "There is no such endpoint." || refusedHTML != noneHTML ||
		strings.Contains(refusedHTML, theirs.Name) || strings.Contains(refusedHTML, theirs.URL) {
		t.Fatalf("another customer's endpoint: %q, like none %v, %v", refused, refusedHTML == noneHTML, err)
	}

	// The link works once.
	var used string
	err = chromedp.Run(browser(t, 390, 844),
		chromedp.Navigate(link.URL),
		chromedp.WaitVisible(`#error`, chromedp.ByID),
		chromedp.Text(`#error`, &used, chromedp.ByID),
		shot(dir, "portal-link-used", &png),
	)
	if err != nil || used != "This sign-in link has expired or was used already. Ask for a new one." {
		t.Fatalf("the link again: %q, %v", used, err)
	}

	// Everything the customer did is in the audit log, under the session.
	var audit struct {
		Data []struct {
			Action     string `json:"action"`
			ResourceID string `json:"resource_id"`
		} `json:"data"`
	}
	if code := call(t, "GET", p.url+"/v1/audit?actor_key_id="+link.ID, token, nil, &audit); code != http.StatusOK {
		t.Fatalf("audit: %d", code)
	}
	var actions []string
	for _, e := range audit.Data {
		actions = append(actions, e.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"portal_session.sign_in", "destination.create", "destination.update", "destination.secret_rotate", "destination.test"} {
		if !strings.Contains(got, want) {
			t.Errorf("the audit log under %s lacks %s: %s", link.ID, want, got)
		}
	}
	if n := strings.Count(got, "destination.update"); n < 3 { // edit, disable, enable
		t.Errorf("%d destination.update entries under the session, want 3: %s", n, got)
	}
	if strings.Contains(p.log(), strings.TrimPrefix(link.URL, p.url+sluice.PortalSignInPath)) {
		t.Error("the gateway's log has the link's token")
	}
	t.Logf("screenshots in %s", dir)
}
