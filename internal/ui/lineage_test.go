package ui_test

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// The data map page draws the map as an inline SVG diagram, and serves it
// on its own at /ui/datamap.svg, to a signed-in session only: every flow
// names its destination, a withheld field is marked, every name is
// escaped, and no payload value is drawn.
func TestDataMapDiagram(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	key, err := b.store.KeyByTokenHash(ctx, sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	if code, raw := b.call(t, "PATCH", "/v1/tenants/"+key.TenantID, b.operator, map[string]any{"restricted_data": map[string]any{
		"paths": []string{"customer.phone"}, "subject_types": []string{}}}, nil); code != http.StatusOK {
		t.Fatalf("restrict customer.phone: %d %s", code, raw)
	}
	const evil = `"><script>alert(1)</script>`
	for _, d := range []map[string]any{
		{"name": evil, "url": "https://a.example.com", "fields": []string{"id", "amount"}},
		{"name": "support", "url": "https://b.example.com", "event_types": []string{"order.*"}},
	} {
		if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, d, nil); code != http.StatusCreated {
			t.Fatalf("create destination: %d %s", code, raw)
		}
	}
	b.publish(t, map[string]any{"type": "order.paid", "payload": map[string]any{"id": "ord_77", "amount": 42,
		"customer": map[string]any{"phone": "+1 555 0100"}}})

	_, token := b.viewer(t)
	br := b.signIn(t, token)
	code, page := br.get("/ui/datamap")
	if code != http.StatusOK {
		t.Fatalf("data map page: %d", code)
	}
	_, svg, ok := strings.Cut(page, `<figure class="lineage" id="lineage">`)
	svg, _, _ = strings.Cut(svg, "</figure>")
	if !ok || !strings.HasPrefix(svg, "<svg") {
		t.Fatalf("the data map page has no inline diagram:\n%s", page)
	}
	for _, want := range []string{
		">order.paid</text>",
		"→ support</text>",
		"fields: id, amount</text>",
		"whole payload</text>",
		">withheld: customer.phone</text>",
		`stroke-dasharray`,
		"→ &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</text>",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the diagram lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "ord_77") || strings.Contains(page, "555") {
		t.Error("the page holds a script, or a payload value")
	}

	res, err := br.client.Get(b.srv.URL + "/ui/datamap.svg")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	alone, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("/ui/datamap.svg: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
	}
	if string(alone) != svg {
		t.Error("/ui/datamap.svg differs from the page's diagram")
	}
	var root struct {
		XMLName xml.Name
		Title   string `xml:"title"`
	}
	if err := xml.Unmarshal(alone, &root); err != nil || root.XMLName.Local != "svg" ||
		root.XMLName.Space != "http://www.w3.org/2000/svg" || root.Title != "Data map: 1 source, 1 event type, 2 destinations, 2 flows" {
		t.Errorf("/ui/datamap.svg is not the SVG document expected: %+v, %v", root, err)
	}

	// Without a session, it is not served.
	anon, err := http.Get(b.srv.URL + "/ui/datamap.svg")
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Body.Close()
	if anon.Request.URL.Path != "/ui/login" || strings.Contains(readBody(t, anon), "order.paid") {
		t.Errorf("/ui/datamap.svg without a session ended at %s", anon.Request.URL)
	}
}
