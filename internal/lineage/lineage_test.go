package lineage_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/datamap"
	"github.com/sluicehq/sluice/internal/lineage"
)

// shop is a small map with every case: a flow of the whole payload, one
// of an allowlist, one withholding restricted data, a type that flows
// nowhere, a source with nothing seen, a destination nothing reaches and
// the published events.
func shop() *datamap.Map {
	return &datamap.Map{
		Sources: []datamap.Source{
			{ID: "src_shop", Name: "shop", EventTypes: []string{"order.paid", "order.refunded", "cart.viewed"},
				SubjectTypes: []string{"customer_id", "email"},
				Flows: []datamap.Flow{
					{EventType: "order.paid", DestinationID: "dst_ledger", Fields: []string{"id", "amount"}},
					{EventType: "order.paid", DestinationID: "dst_crm",
						Withheld: &datamap.Withheld{Paths: []string{"customer.email"}, SubjectTypes: []string{"email"}}},
					{EventType: "order.refunded", DestinationID: "dst_ledger", Fields: []string{"id", "amount"}},
				}},
			{ID: "src_idle", Name: "idle", EventTypes: []string{}, SubjectTypes: []string{}, Flows: []datamap.Flow{}},
			{ID: "", Name: "published through the API", EventTypes: []string{"user.created"}, SubjectTypes: []string{},
				Flows: []datamap.Flow{{EventType: "user.created", DestinationID: "dst_crm"}}},
		},
		Destinations: []datamap.Destination{
			{ID: "dst_crm", Name: "crm", EventTypes: []string{"*"}},
			{ID: "dst_unused", Name: "unused", EventTypes: []string{"nothing.*"}},
			{ID: "dst_ledger", Name: "ledger", EventTypes: []string{"order.*"}, Fields: []string{"id", "amount"}},
		},
	}
}

// wide is 10 sources each seen sending 20 event types, destination j
// taking type j: 200 flows.
func wide() *datamap.Map {
	m := &datamap.Map{}
	for j := range 20 {
		m.Destinations = append(m.Destinations, datamap.Destination{ID: fmt.Sprintf("dst_%02d", j),
			Name: fmt.Sprintf("warehouse-%02d", j), EventTypes: []string{fmt.Sprintf("*.type%02d", j)}})
	}
	for i := range 10 {
		s := datamap.Source{ID: fmt.Sprintf("src_%02d", i), Name: fmt.Sprintf("provider-%02d", i),
			SubjectTypes: []string{"email"}}
		for j := range 20 {
			typ := fmt.Sprintf("provider%02d.type%02d", i, j)
			s.EventTypes = append(s.EventTypes, typ)
			s.Flows = append(s.Flows, datamap.Flow{EventType: typ, DestinationID: fmt.Sprintf("dst_%02d", j),
				Fields: []string{"id", "status", "amount"}})
		}
		m.Sources = append(m.Sources, s)
	}
	return m
}

func TestLayoutPlacesEveryBoxApart(t *testing.T) {
	t.Parallel()
	for name, m := range map[string]*datamap.Map{"shop": shop(), "200 flows": wide()} {
		d := lineage.Layout(m)
		for i, a := range d.Nodes {
			if a.X < 0 || a.Y < 30 || a.X+a.W > d.Width || a.Y+a.H > d.Height || a.W <= 0 || a.H <= 0 {
				t.Errorf("%s: node %q (%d,%d %dx%d) is outside the %dx%d canvas", name, a.ID, a.X, a.Y, a.W, a.H, d.Width, d.Height)
			}
			for _, b := range d.Nodes[i+1:] {
				if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
					t.Errorf("%s: node %q (%d,%d %dx%d) overlaps %q (%d,%d %dx%d)", name, a.ID, a.X, a.Y, a.W, a.H,
						b.ID, b.X, b.Y, b.W, b.H)
				}
			}
		}
	}
}

func TestLayoutDrawsEveryFlow(t *testing.T) {
	t.Parallel()
	for name, m := range map[string]*datamap.Map{"shop": shop(), "200 flows": wide()} {
		d := lineage.Layout(m)
		flows := 0
		for si := range m.Sources {
			s := &m.Sources[si]
			for fi := range s.Flows {
				f := &s.Flows[fi]
				flows++
				var found []lineage.Edge
				for _, e := range d.Edges {
					if e.Flow == f {
						found = append(found, e)
					}
				}
				if len(found) != 1 {
					t.Errorf("%s: flow %s %s → %s has %d edges, want 1", name, s.Name, f.EventType, f.DestinationID, len(found))
					continue
				}
				e := found[0]
				from, to := d.Nodes[e.From], d.Nodes[e.To]
				if from.Kind != lineage.KindEventType || from.ID != f.EventType || to.Kind != lineage.KindDestination || to.ID != f.DestinationID {
					t.Errorf("%s: flow %s → %s drawn from %q to %q", name, f.EventType, f.DestinationID, from.ID, to.ID)
				}
				if e.Y1 < from.Y || e.Y1 > from.Y+from.H || e.Y2 < to.Y || e.Y2 > to.Y+to.H || e.X2 != to.X {
					t.Errorf("%s: flow %s → %s does not leave its type's box or reach its destination's", name, f.EventType, f.DestinationID)
				}
				// Its type hangs off its source.
				linked := false
				for _, se := range d.Edges {
					linked = linked || (se.Flow == nil && se.To == e.From && d.Nodes[se.From].Kind == lineage.KindSource &&
						d.Nodes[se.From].ID == s.ID)
				}
				if !linked {
					t.Errorf("%s: type %s has no edge from source %q", name, f.EventType, s.ID)
				}
			}
		}
		if d.Flows != flows {
			t.Errorf("%s: the diagram counts %d flows, the map has %d", name, d.Flows, flows)
		}
	}
}

// At 200 flows the diagram keeps its width and its type size, grows by
// less than 50 units a flow, and every label fits its column.
func TestLayoutReadableAt200Flows(t *testing.T) {
	t.Parallel()
	d := lineage.Layout(wide())
	if d.Flows != 200 || d.Sources != 10 || d.Types != 200 || d.Destinations != 20 {
		t.Fatalf("drew %d flows, %d sources, %d types, %d destinations", d.Flows, d.Sources, d.Types, d.Destinations)
	}
	if small := lineage.Layout(shop()); d.Width != small.Width || d.Width > 1200 {
		t.Errorf("width %d at 200 flows, %d for a few: want one width of at most 1200", d.Width, small.Width)
	}
	if d.Height > 50*200+200 {
		t.Errorf("height %d for 200 flows", d.Height)
	}
	// Each label fits: at most as many characters as 7 units each allow
	// in its box, and, on an edge, the lane right of its type.
	for _, n := range d.Nodes {
		if utf8.RuneCountInString(n.Label)*7 > n.W {
			t.Errorf("label %q is wider than its box (%d)", n.Label, n.W)
		}
	}
	for _, e := range d.Edges {
		if utf8.RuneCountInString(e.Label)*6 > 330 {
			t.Errorf("edge label %q is wider than its lane", e.Label)
		}
	}
	svg := lineage.SVG(wide())
	checkXML(t, svg)
	if !bytes.Contains(svg, []byte(`>Data map: 10 sources, 200 event types, 20 destinations, 200 flows</title>`)) {
		t.Error("the SVG's title does not count what it draws")
	}
	if !bytes.Contains(svg, []byte(`font-size="12"`)) || bytes.Contains(svg, []byte("<script")) {
		t.Error("the SVG lacks its base font size, or holds a script")
	}
}

func TestSVGLabelsFlows(t *testing.T) {
	t.Parallel()
	svg := string(lineage.SVG(shop()))
	checkXML(t, svg)
	for _, want := range []string{
		"fields: id, amount · subjects: customer_id, email", // to the ledger
		"whole payload · subjects: customer_id</text>",      // to the crm, email withheld
		"withheld: customer.email, email (subject)",
		`stroke-dasharray="6 4"`,
		"no event types seen yet",   // idle
		"flows nowhere",             // cart.viewed
		"published through the API", // the published events
		"unused", "dst_unused",      // a destination nothing reaches
		"→ ledger</text>", "→ crm</text>",
		"shop (src_shop)&#xA;subjects: customer_id, email</title>",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	if n := strings.Count(svg, `stroke-dasharray`); n != 1 {
		t.Errorf("%d dashed edges, want the 1 that withholds", n)
	}
	if !bytes.Equal(lineage.SVG(shop()), lineage.SVG(shop())) {
		t.Error("the same map drew two different SVGs")
	}
}

func TestSVGCutsLongNamesAndKeepsThemInTheTooltip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("very-long-destination-name-", 4)
	m := shop()
	m.Destinations[0].Name = long
	svg := string(lineage.SVG(m))
	if !strings.Contains(svg, "<title>"+long+" (dst_crm)") {
		t.Error("the long name is not whole in its tooltip")
	}
	if !regexp.MustCompile(`>`+long[:20]+`[a-z-]*…</text>`).MatchString(svg) || strings.Contains(svg, ">"+long+"<") {
		t.Error("the long name is not cut in its box")
	}
}

func TestSVGEscapesNames(t *testing.T) {
	t.Parallel()
	evil := `<script>alert("x")</script>' & "quoted"`
	m := shop()
	m.Sources[0].Name = evil
	m.Sources[0].SubjectTypes = []string{evil}
	m.Destinations[0].Name = `"><script>alert(1)</script>`
	m.Sources[2].EventTypes = []string{`a"b<c>`}
	m.Sources[2].Flows[0].EventType = `a"b<c>`
	m.Sources[2].Flows[0].Fields = []string{`<img src=x onerror=alert(1)>`}
	svg := lineage.SVG(m)
	if bytes.Contains(svg, []byte("<script")) || bytes.Contains(svg, []byte("<img")) || bytes.Contains(svg, []byte(`a"b`)) {
		t.Fatalf("a name reached the SVG unescaped: %s", svg)
	}
	// Escaped, they read back whole.
	text := checkXML(t, svg)
	for _, want := range []string{evil, `"><script>alert(1)</script>`, `a"b<c>`, `<img src=x onerror=alert(1)>`} {
		if !strings.Contains(text, want) {
			t.Errorf("the SVG's text lacks %q", want)
		}
	}
}

// checkXML fails unless svg is one well-formed XML element, an svg, and
// returns its character data.
func checkXML[T string | []byte](t *testing.T, svg T) string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	var text strings.Builder
	depth, root := 0, ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = tok.Name.Local
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("the document's root is %q, depth left %d", root, depth)
	}
	return text.String()
}
