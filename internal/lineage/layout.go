// Package lineage draws a tenant's data map (internal/datamap) as a flow
// diagram: sources on the left, the event types seen from each in the
// middle, destinations on the right, and on each type's edge to a
// destination the fields and subject types it carries, with what is
// withheld from it marked. The dashboard serves it as server-rendered SVG:
// no script, no style sheet, tooltips from <title> elements.
//
// Layout places the boxes and edges; WriteSVG draws them. Both are
// deterministic: the same map gives the same bytes.
package lineage

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/datamap"
)

// The geometry, in SVG user units (pixels at 1:1). Columns have fixed
// widths, so a long name is cut and its full text kept in a tooltip; the
// diagram grows downwards with the number of event types and flows.
const (
	margin     = 16
	headerH    = 44 // the column headings
	srcX       = margin
	srcW       = 200
	typeX      = srcX + srcW + 60
	typeW      = 180
	laneW      = 330 // right of a type's box: the labels of its flows
	destX      = typeX + typeW + laneW + 100
	destW      = 240
	canvasW    = destX + destW + margin
	boxH       = 44 // a source's or a destination's box
	rowH       = 40 // one flow of a type: its destination above the edge, what it carries below
	withheldH  = 53 // one flow of a type that withholds something: a third line
	nodeGap    = 8
	groupGap   = 20 // between the event types of two sources
	charW      = 7  // a generous average glyph width at 12px
	smallCharW = 6  // at 11px
	lineOffset = 19 // from a flow row's top to its edge
)

// Kind is what a node stands for.
type Kind int

// The kinds of node, one per column.
const (
	KindSource Kind = iota
	KindEventType
	KindDestination
)

// Node is a labelled box.
type Node struct {
	Kind Kind
	// ID is the source's or destination's id; for an event type, the type.
	ID         string
	X, Y, W, H int
	// Label and Note are the two lines drawn, cut to fit the box; Title
	// is the full text, shown as the tooltip.
	Label, Note, Title string
}

// Edge joins two nodes: a source to one of its event types, or an event
// type to a destination it flows to (Flow set).
type Edge struct {
	From, To int // indexes into Diagram.Nodes
	// Flow is the flow a type's edge draws; nil for a source's edge.
	Flow *datamap.Flow
	// The edge runs from (X1, Y1) to (X2, Y2). A flow's edge first runs
	// flat through the label lane right of its type's box.
	X1, Y1, X2, Y2 int
	// Target names the destination (drawn above a flow's edge, for the
	// reader who does not follow the line); Label the fields and subject
	// types carried; Withheld, when not empty, what is withheld. All cut
	// to the lane; Title is the full text.
	Target, Label, Withheld, Title string
}

// Diagram is a laid-out data map.
type Diagram struct {
	Width, Height int
	Nodes         []Node
	Edges         []Edge
	// Empty marks the places in the type column of sources with no event
	// type seen: the y of a "none seen yet" note.
	Empty []int
	// Sources, Types, Destinations and Flows count what is drawn.
	Sources, Types, Destinations, Flows int
}

// Layout places the map's nodes and edges: sources in the map's order,
// each source's event types in the order the map lists them, one row per
// flow beside its type, and destinations ordered by the mean height of
// the flows reaching them (ties, and destinations nothing reaches, in the
// map's order) so that edges cross little. No two boxes overlap.
func Layout(m *datamap.Map) *Diagram {
	d := &Diagram{Width: canvasW}
	destIndex := map[string]int{} // destination id → its node
	dests := m.Destinations
	// A flow to a destination the map does not list (it cannot happen in
	// a map Build returns) still gets a node, named by its id.
	for _, s := range m.Sources {
		for _, f := range s.Flows {
			if !slices.ContainsFunc(dests, func(x datamap.Destination) bool { return x.ID == f.DestinationID }) {
				dests = append(slices.Clip(dests), datamap.Destination{ID: f.DestinationID, Name: f.DestinationID})
			}
		}
	}
	d.Destinations = len(dests)

	names := map[string]string{}
	for _, x := range dests {
		names[x.ID] = x.Name
	}
	type pending struct {
		edge int // index into d.Edges, To still unset
		dest string
	}
	var flowsOut []pending
	y := headerH
	for si := range m.Sources {
		s := &m.Sources[si]
		d.Sources++
		top := y
		srcNode := len(d.Nodes)
		d.Nodes = append(d.Nodes, Node{Kind: KindSource, ID: s.ID}) // placed below
		types := typesOf(s)
		for _, typ := range types {
			d.Types++
			typeNode := len(d.Nodes)
			n := Node{Kind: KindEventType, ID: typ, X: typeX, Y: y, W: typeW}
			rowY := y
			for fi := range s.Flows {
				f := &s.Flows[fi]
				if f.EventType != typ {
					continue
				}
				d.Flows++
				e := flowEdge(s, f, names[f.DestinationID])
				e.From, e.X1, e.Y1 = typeNode, typeX+typeW, rowY+lineOffset
				flowsOut = append(flowsOut, pending{edge: len(d.Edges), dest: f.DestinationID})
				d.Edges = append(d.Edges, e)
				if e.Withheld != "" {
					rowY += withheldH
				} else {
					rowY += rowH
				}
			}
			n.H = max(rowY-y, rowH)
			n.Label = cut(typ, (typeW-16)/charW)
			n.Title = "event type " + typ + " from " + s.Name
			if rowY == y {
				n.Note = "flows nowhere"
			}
			d.Nodes = append(d.Nodes, n)
			d.Edges = append(d.Edges, Edge{From: srcNode, To: typeNode, X1: srcX + srcW, X2: typeX, Y2: y + n.H/2,
				Title: s.Name + " → " + typ})
			y += n.H + nodeGap
		}
		span := y - nodeGap - top
		if len(types) == 0 {
			span = 0
		}
		if span < boxH {
			if len(types) == 0 {
				d.Empty = append(d.Empty, top+boxH/2)
			}
			span = boxH
		}
		src := &d.Nodes[srcNode]
		src.X, src.Y, src.W, src.H = srcX, top+(span-boxH)/2, srcW, boxH
		src.Label, src.Note, src.Title = sourceText(s)
		for i := range d.Edges {
			if d.Edges[i].From == srcNode && d.Edges[i].Flow == nil {
				d.Edges[i].Y1 = src.Y + boxH/2
			}
		}
		y = top + span + groupGap
	}
	bottom := y - groupGap

	// Destinations: ordered by where their flows leave, then pushed down
	// until none overlaps the one above.
	type place struct {
		index   int
		desired float64
		flows   int
	}
	places := make([]place, len(dests))
	for i := range dests {
		places[i].index = i
	}
	byID := map[string]int{}
	for i, x := range dests {
		byID[x.ID] = i
	}
	for _, p := range flowsOut {
		pl := &places[byID[p.dest]]
		pl.desired += float64(d.Edges[p.edge].Y1)
		pl.flows++
	}
	for i := range places {
		if places[i].flows > 0 {
			places[i].desired /= float64(places[i].flows)
		}
	}
	slices.SortStableFunc(places, func(a, b place) int {
		if (a.flows == 0) != (b.flows == 0) {
			if a.flows == 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.desired, b.desired)
	})
	next := headerH
	for _, pl := range places {
		x := dests[pl.index]
		top := next
		if pl.flows > 0 {
			top = max(next, int(pl.desired)-boxH/2)
		}
		destIndex[x.ID] = len(d.Nodes)
		label, note, title := destinationText(x)
		d.Nodes = append(d.Nodes, Node{Kind: KindDestination, ID: x.ID, X: destX, Y: top, W: destW, H: boxH,
			Label: label, Note: note, Title: title})
		next = top + boxH + nodeGap
	}
	// The edges reaching a destination spread over its left side, in the
	// order they leave, so that they do not cross there.
	incoming := map[string][]int{}
	for _, p := range flowsOut {
		incoming[p.dest] = append(incoming[p.dest], p.edge)
	}
	for id, edges := range incoming {
		slices.SortStableFunc(edges, func(a, b int) int { return cmp.Compare(d.Edges[a].Y1, d.Edges[b].Y1) })
		to := d.Nodes[destIndex[id]]
		for i, ei := range edges {
			e := &d.Edges[ei]
			e.To, e.X2, e.Y2 = destIndex[id], to.X, to.Y+to.H/2
			if len(edges) > 1 {
				e.Y2 = to.Y + 6 + i*(to.H-12)/(len(edges)-1)
			}
		}
	}
	d.Height = max(bottom, next-nodeGap, headerH+boxH) + margin
	return d
}

// typesOf is a source's event types in the map's order, each once, with
// any type a flow names that the list lacks.
func typesOf(s *datamap.Source) []string {
	var types []string
	for _, t := range s.EventTypes {
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	for _, f := range s.Flows {
		if !slices.Contains(types, f.EventType) {
			types = append(types, f.EventType)
		}
	}
	return types
}

// flowEdge is the edge of a flow, its labels set: the fields it receives
// and the source's subject types it is not withheld; and what is
// withheld.
func flowEdge(s *datamap.Source, f *datamap.Flow, destName string) Edge {
	fields := "whole payload"
	if f.Fields != nil {
		fields = "fields: " + strings.Join(f.Fields, ", ")
		if len(f.Fields) == 0 {
			fields = "fields: none"
		}
	}
	var subjects, withheld []string
	if f.Withheld != nil {
		withheld = append(withheld, f.Withheld.Paths...)
		for _, st := range f.Withheld.SubjectTypes {
			withheld = append(withheld, st+" (subject)")
		}
	}
	for _, st := range s.SubjectTypes {
		if f.Withheld == nil || !slices.Contains(f.Withheld.SubjectTypes, st) {
			subjects = append(subjects, st)
		}
	}
	label := fields
	if len(subjects) > 0 {
		label += " · subjects: " + strings.Join(subjects, ", ")
	}
	if destName == "" {
		destName = f.DestinationID
	}
	e := Edge{Flow: f, Target: cut("→ "+destName, (laneW-12)/charW), Label: cut(label, (laneW-12)/smallCharW)}
	e.Title = s.Name + " → " + f.EventType + " → " + destName + "\n" + label
	if len(withheld) > 0 {
		all := "withheld: " + strings.Join(withheld, ", ")
		e.Withheld = cut(all, (laneW-12)/smallCharW)
		e.Title += "\n" + all
	}
	return e
}

func sourceText(s *datamap.Source) (label, note, title string) {
	title = s.Name
	if s.ID != "" {
		title += " (" + s.ID + ")"
	}
	note = "no subjects indexed"
	if len(s.SubjectTypes) > 0 {
		note = "subjects: " + strings.Join(s.SubjectTypes, ", ")
	}
	title += "\n" + note
	return cut(s.Name, (srcW-16)/charW), cut(note, (srcW-16)/smallCharW), title
}

func destinationText(x datamap.Destination) (label, note, title string) {
	takes := "takes the whole payload"
	if x.Fields != nil {
		takes = "takes fields: " + strings.Join(x.Fields, ", ")
	}
	title = x.Name + " (" + x.ID + ")\n" + takes
	return cut(x.Name, (destW-16)/charW), cut(x.ID, (destW-16)/charW), title
}

// cut shortens s to at most n characters, ending a cut one with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
