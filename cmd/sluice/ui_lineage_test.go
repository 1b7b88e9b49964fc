package main_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// lineageTenant is a tenant of a running sluice, with its admin token,
// and a receiver its destinations point at.
type lineageTenant struct {
	p                *proc
	id, token, hooks string
}

func newLineageTenant(t *testing.T) *lineageTenant {
	t.Helper()
	operator := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+operator)
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(rcv.Close)
	var ten struct{ ID, Token string }
	if code := call(t, "POST", p.url+"/v1/tenants", operator, map[string]string{"name": "shop"}, &ten); code != http.StatusCreated {
		t.Fatalf("create tenant: %d", code)
	}
	return &lineageTenant{p: p, id: ten.ID, token: ten.Token, hooks: rcv.URL + "/hooks"}
}

func (lt *lineageTenant) source(t *testing.T, name string, fields map[string]any) (ingestURL string) {
	t.Helper()
	body := map[string]any{"name": name, "verification": map[string]string{"type": "none"}}
	for k, v := range fields {
		body[k] = v
	}
	var src struct {
		IngestURL string `json:"ingest_url"`
	}
	if code := call(t, "POST", lt.p.url+"/v1/sources", lt.token, body, &src); code != http.StatusCreated {
		t.Fatalf("create source %s: %d", name, code)
	}
	return src.IngestURL
}

func (lt *lineageTenant) destination(t *testing.T, name string, fields map[string]any) {
	t.Helper()
	body := map[string]any{"name": name, "url": lt.hooks}
	for k, v := range fields {
		body[k] = v
	}
	if code := call(t, "POST", lt.p.url+"/v1/destinations", lt.token, body, nil); code != http.StatusCreated {
		t.Fatalf("create destination %s: %d", name, code)
	}
}

// waitForFlows waits until the data map has n flows.
func (lt *lineageTenant) waitForFlows(t *testing.T, n int) {
	t.Helper()
	got := 0
	testkit.WaitFor(t, 30*time.Second, func() bool {
		var m struct {
			Sources []struct{ Flows []struct{} }
		}
		call(t, "GET", lt.p.url+"/v1/datamap", lt.token, nil, &m)
		got = 0
		for _, s := range m.Sources {
			got += len(s.Flows)
		}
		return got == n
	}, func() string { return fmt.Sprintf("the data map has %d flows, want %d", got, n) })
}

// In a real browser, the data map page draws its flows: two sources and
// the published events, a destination with an allowlist, one withheld a
// restricted field (a dashed edge), one with a personal data grant. The
// diagram fits a desktop window and scrolls on its own on a phone.
// Screenshots: datamap-diagram, phone-datamap-diagram.
func TestDataMapDiagramInBrowser(t *testing.T) {
	t.Parallel()
	lt := newLineageTenant(t)
	if code := call(t, "PATCH", lt.p.url+"/v1/tenants/"+lt.id, lt.token, map[string]any{"restricted_data": map[string]any{
		"paths": []string{"customer.phone"}, "subject_types": []string{}}}, nil); code != http.StatusOK {
		t.Fatalf("restrict customer.phone: %d", code)
	}
	shop := lt.source(t, "shop", map[string]any{"subject_paths": []map[string]string{{"path": "customer.email", "type": "email"}}})
	crm := lt.source(t, "crm sync", nil)
	lt.destination(t, "ledger", map[string]any{"event_types": []string{"order.*"}, "fields": []string{"id", "amount"}})
	lt.destination(t, "support desk", map[string]any{"event_types": []string{"order.paid", "contact.updated"}})
	lt.destination(t, "warehouse", map[string]any{"event_types": []string{"*"},
		"personal_data": map[string]any{"allowed": true, "purpose": "analytics", "lawful_basis": "legitimate_interests"}})
	json := http.Header{"Content-Type": {"application/json"}}
	ingest(t, shop, []byte(`{"type":"order.paid","id":"o_1","amount":42,"customer":{"email":"ada@example.com","phone":"+1 555 0100"}}`), json)
	ingest(t, shop, []byte(`{"type":"order.refunded","id":"r_1","amount":42}`), json)
	ingest(t, crm, []byte(`{"type":"contact.updated","id":"c_1"}`), json)
	publish(t, lt.p, lt.token, map[string]any{"type": "user.created", "payload": map[string]any{"id": "u_1"}})
	// order.paid: ledger, support, warehouse; order.refunded: ledger,
	// warehouse; contact.updated: support, warehouse; user.created:
	// warehouse.
	lt.waitForFlows(t, 8)

	dir := screenshots(t)
	var png []byte
	var text string
	var edges, dashed []*cdp.Node
	var fits bool
	ctx := browser(t, 1280, 900)
	err := chromedp.Run(ctx, signIn(lt.p.url, lt.token),
		chromedp.Navigate(lt.p.url+"/ui/datamap"),
		chromedp.WaitVisible(`#lineage svg`, chromedp.ByQuery),
		chromedp.TextContent(`#lineage svg`, &text, chromedp.ByQuery),
		chromedp.Nodes(`#lineage circle`, &edges, chromedp.ByQueryAll),
		chromedp.Nodes(`#lineage path[stroke-dasharray]`, &dashed, chromedp.ByQueryAll),
		chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &fits),
		shot(dir, "datamap-diagram", &png),
	)
	if err != nil {
		t.Fatalf("data map page: %v", err)
	}
	for _, want := range []string{"shop", "crm sync", "published through the API", "order.paid", "order.refunded",
		"contact.updated", "user.created", "→ ledger", "→ support desk", "→ warehouse", "fields: id, amount",
		"withheld: customer.phone", "subjects: email", "Data map: 3 sources, 4 event types, 3 destinations, 8 flows"} {
		if !strings.Contains(text, want) {
			t.Errorf("the diagram lacks %q", want)
		}
	}
	if strings.Contains(text, "555") || strings.Contains(text, "ada@") {
		t.Error("the diagram holds a payload value")
	}
	// order.paid withholds the phone from the support desk and the
	// ledger (its allowlist applies after), not from the warehouse, which
	// has a grant.
	if len(edges) != 8 || len(dashed) != 2 || !fits {
		t.Errorf("%d flow edges (want 8), %d dashed (want 2), fits the window: %v", len(edges), len(dashed), fits)
	}

	var pageFits, figureScrolls bool
	phone := browser(t, 390, 844)
	err = chromedp.Run(phone, signIn(lt.p.url, lt.token),
		chromedp.Navigate(lt.p.url+"/ui/datamap"),
		chromedp.WaitVisible(`#lineage svg`, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &pageFits),
		chromedp.Evaluate(`(f => f.scrollWidth > f.clientWidth)(document.getElementById("lineage"))`, &figureScrolls),
		shot(dir, "phone-datamap-diagram", &png),
	)
	if err != nil || !pageFits || !figureScrolls {
		t.Errorf("on a phone: the page fits %v, the diagram scrolls on its own %v, %v", pageFits, figureScrolls, err)
	}
}

// 10 sources, each seen sending the same 20 event types, and 20
// destinations, each taking one type: 200 flows, drawn whole, every box
// apart, at the page's width. Screenshot: datamap-200-flows.
func TestDataMapDiagramAt200FlowsInBrowser(t *testing.T) {
	t.Parallel()
	lt := newLineageTenant(t)
	types := []string{"order.created", "order.paid", "order.refunded", "order.shipped", "order.cancelled",
		"invoice.created", "invoice.paid", "invoice.voided", "customer.created", "customer.updated",
		"customer.deleted", "subscription.started", "subscription.renewed", "subscription.ended",
		"payment.failed", "payment.succeeded", "refund.issued", "dispute.opened", "dispute.closed", "payout.sent"}
	for j, typ := range types {
		lt.destination(t, fmt.Sprintf("consumer-%02d", j), map[string]any{"event_types": []string{typ},
			"fields": []string{"id", "status"}})
	}
	json := http.Header{"Content-Type": {"application/json"}}
	for i := range 10 {
		in := lt.source(t, fmt.Sprintf("provider-%02d", i), nil)
		for _, typ := range types {
			ingest(t, in, fmt.Appendf(nil, `{"type":%q,"id":"e_%d_%s","status":"ok"}`, typ, i, typ), json)
		}
	}
	lt.waitForFlows(t, 200)

	dir := screenshots(t)
	var png []byte
	var title string
	var flows, boxes []*cdp.Node
	var apart, fits bool
	ctx := browser(t, 1280, 900)
	err := chromedp.Run(ctx, signIn(lt.p.url, lt.token),
		chromedp.Navigate(lt.p.url+"/ui/datamap"),
		chromedp.WaitVisible(`#lineage svg`, chromedp.ByQuery),
		chromedp.TextContent(`#lineage-title`, &title, chromedp.ByQuery),
		chromedp.Nodes(`#lineage circle`, &flows, chromedp.ByQueryAll),
		chromedp.Nodes(`#lineage g:not(.lineage-edge) > rect`, &boxes, chromedp.ByQueryAll),
		// As the browser laid them out: no two boxes overlap.
		chromedp.Evaluate(`(() => {
			const r = [...document.querySelectorAll("#lineage g:not(.lineage-edge) > rect")].map(e => e.getBoundingClientRect());
			for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++)
				if (r[i].left < r[j].right && r[j].left < r[i].right && r[i].top < r[j].bottom && r[j].top < r[i].bottom) return false;
			return true;
		})()`, &apart),
		chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &fits),
		shot(dir, "datamap-200-flows", &png),
	)
	if err != nil {
		t.Fatalf("data map page: %v", err)
	}
	if !strings.Contains(title, "10 sources, 20") || !strings.Contains(title, "200 flows") {
		t.Errorf("diagram title %q", title)
	}
	// 10 sources, their 200 types, 20 destinations (and the published
	// events' box, should Sluice have published a notice of its own).
	if len(flows) != 200 || len(boxes) < 230 || !apart || !fits {
		t.Errorf("%d flow edges (want 200), %d boxes, apart %v, fits the window %v", len(flows), len(boxes), apart, fits)
	}
}
