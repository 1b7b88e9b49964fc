package lineage

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"

	"github.com/sluicehq/sluice/internal/datamap"
)

// The colours, as presentation attributes: the dashboard's policy allows
// no inline style, and an SVG opened on its own has no style sheet.
const (
	ink       = "#1d232b"
	muted     = "#5b6672"
	line      = "#98a2b3"
	withheldC = "#b42318"
	srcFill   = "#eff8ff"
	srcLine   = "#0b6bcb"
	destFill  = "#ecfdf3"
	destLine  = "#067647"
)

// SVG draws the map: Layout, then WriteSVG.
func SVG(m *datamap.Map) []byte {
	var buf bytes.Buffer
	_ = Layout(m).WriteSVG(&buf) // a bytes.Buffer does not fail
	return buf.Bytes()
}

// WriteSVG writes the diagram as a standalone SVG document that may also
// be put inline in HTML. Every name is escaped; nothing in it runs.
func (d *Diagram) WriteSVG(w io.Writer) error {
	s := &svgWriter{}
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="lineage-diagram" viewBox="0 0 %d %d" width="%d" height="%d" `+
		`role="img" aria-labelledby="lineage-title" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
		d.Width, d.Height, d.Width, d.Height)
	s.printf(`<title id="lineage-title">Data map: %s, %s, %s, %s</title>`, count(d.Sources, "source"),
		count(d.Types, "event type"), count(d.Destinations, "destination"), count(d.Flows, "flow"))
	s.printf(`<rect width="%d" height="%d" fill="#fff"/>`, d.Width, d.Height)
	for _, h := range []struct {
		x    int
		text string
	}{{srcX, "Sources"}, {typeX, "Event types, and what each destination is sent"}, {destX, "Destinations"}} {
		s.printf(`<text x="%d" y="22" font-weight="600" fill="%s">%s</text>`, h.x, muted, esc(h.text))
	}
	s.printf(`<line x1="%d" y1="30" x2="%d" y2="30" stroke="#dde2e7"/>`, margin, d.Width-margin)

	// Edges first, under the boxes.
	for _, e := range d.Edges {
		s.edge(e)
	}
	for _, n := range d.Nodes {
		s.node(n)
	}
	for _, y := range d.Empty {
		s.printf(`<text x="%d" y="%d" fill="%s" font-style="italic">no event types seen yet</text>`, typeX, y+4, muted)
	}
	s.printf(`</svg>`)
	_, err := w.Write(s.buf.Bytes())
	return err
}

// svgWriter collects the document, written out whole once drawn.
type svgWriter struct{ buf bytes.Buffer }

func (s *svgWriter) printf(format string, args ...any) {
	fmt.Fprintf(&s.buf, format, args...)
}

func (s *svgWriter) edge(e Edge) {
	s.printf(`<g class="lineage-edge"><title>%s</title>`, esc(e.Title))
	var path string
	if e.Flow == nil {
		mid := (e.X1 + e.X2) / 2
		path = fmt.Sprintf("M%d %d C%d %d %d %d %d %d", e.X1, e.Y1, mid, e.Y1, mid, e.Y2, e.X2, e.Y2)
	} else {
		laneEnd := e.X1 + laneW
		mid := (laneEnd + e.X2) / 2
		path = fmt.Sprintf("M%d %d H%d C%d %d %d %d %d %d", e.X1, e.Y1, laneEnd, mid, e.Y1, mid, e.Y2, e.X2, e.Y2)
	}
	stroke, dash := line, ""
	if e.Withheld != "" {
		stroke, dash = withheldC, ` stroke-dasharray="6 4"`
	}
	// A wide transparent stroke under the line makes its tooltip easy to
	// reach with a pointer.
	s.printf(`<path d="%s" fill="none" stroke="transparent" stroke-width="9"/>`, path)
	s.printf(`<path d="%s" fill="none" stroke="%s" stroke-width="1.5"%s/>`, path, stroke, dash)
	if e.Flow != nil {
		s.printf(`<circle cx="%d" cy="%d" r="3" fill="%s"/>`, e.X2, e.Y2, stroke)
		s.printf(`<text x="%d" y="%d" font-size="11" font-weight="600" fill="%s">%s</text>`, e.X1+8, e.Y1-5, ink, esc(e.Target))
		s.printf(`<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`, e.X1+8, e.Y1+13, ink, esc(e.Label))
		if e.Withheld != "" {
			s.printf(`<text class="lineage-withheld" x="%d" y="%d" font-size="11" fill="%s">%s</text>`,
				e.X1+8, e.Y1+26, withheldC, esc(e.Withheld))
		}
	}
	s.printf(`</g>`)
}

func (s *svgWriter) node(n Node) {
	fill, stroke, class := "#fff", line, "lineage-type"
	switch n.Kind {
	case KindSource:
		fill, stroke, class = srcFill, srcLine, "lineage-source"
	case KindDestination:
		fill, stroke, class = destFill, destLine, "lineage-destination"
	}
	s.printf(`<g class="%s"><title>%s</title>`, class, esc(n.Title))
	s.printf(`<rect x="%d" y="%d" width="%d" height="%d" rx="5" fill="%s" stroke="%s"/>`, n.X, n.Y, n.W, n.H, fill, stroke)
	switch {
	case n.Kind == KindEventType:
		s.printf(`<text x="%d" y="%d" fill="%s">%s</text>`, n.X+8, n.Y+lineOffset+4, ink, esc(n.Label))
		if n.Note != "" {
			s.printf(`<text x="%d" y="%d" font-size="11" font-style="italic" fill="%s">%s</text>`,
				n.X+n.W+8, n.Y+lineOffset+4, muted, esc(n.Note))
		}
	default:
		s.printf(`<text x="%d" y="%d" font-weight="600" fill="%s">%s</text>`, n.X+8, n.Y+18, ink, esc(n.Label))
		s.printf(`<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`, n.X+8, n.Y+34, muted, esc(n.Note))
	}
	s.printf(`</g>`)
}

// esc escapes text for SVG content and double-quoted attributes, in XML
// and in HTML alike.
func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // a bytes.Buffer does not fail
	return b.String()
}

// count is "1 flow", "2 flows".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
