package ui

import (
	"html/template"
	"net/http"

	"github.com/sluicehq/sluice/internal/datamap"
	"github.com/sluicehq/sluice/internal/lineage"
)

// Diagram is the data map drawn as a flow diagram, to put inline in the
// page. lineage escapes every name it draws, so the SVG is safe HTML.
func (m dataMapView) Diagram() template.HTML {
	return template.HTML(lineage.SVG(&m.Map))
}

// dataMapSVG serves the signed-in tenant's data map as an SVG image (GET
// /ui/datamap.svg), the diagram the data map page shows.
func (h *Handler) dataMapSVG(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := datamap.Build(r.Context(), h.cfg.Store, s.key.TenantID)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write(lineage.SVG(m))
}
