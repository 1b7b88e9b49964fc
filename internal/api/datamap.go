package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/sluicehq/sluice"
)

// publishedSourceName names, in the data map, the events published through
// the API, which come from no source: they are listed with an empty id.
const publishedSourceName = "published through the API"

// Shapes of GET /v1/datamap (SPEC: Operations), exported for the dashboard,
// which shows the same map.
type (
	DataMap struct {
		Sources      []DataMapSource      `json:"sources"`
		Destinations []DataMapDestination `json:"destinations"`
	}
	DataMapSource struct {
		ID           string        `json:"id"`
		Name         string        `json:"name"`
		EventTypes   []string      `json:"event_types"`
		SubjectTypes []string      `json:"subject_types"`
		Flows        []DataMapFlow `json:"flows"`
	}
	DataMapFlow struct {
		EventType     string   `json:"event_type"`
		DestinationID string   `json:"destination_id"`
		Fields        []string `json:"fields"` // null: the whole payload
	}
	DataMapDestination struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		EventTypes []string `json:"event_types"`
		Fields     []string `json:"fields"`
	}
)

// getDataMap serves GET /v1/datamap: for each source, the event types seen,
// the subject types indexed, and which destination each type flows to with
// which fields. It is built from configuration and from observed types and
// paths, never from payload values.
func (h *Handler) getDataMap(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	m, err := h.dataMap(r.Context(), key.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (h *Handler) dataMap(ctx context.Context, tenantID string) (*DataMap, error) {
	sources, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Source, string, error) { return h.store.Sources(ctx, tenantID, p) })
	if err != nil {
		return nil, err
	}
	dests, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Destination, string, error) {
		return h.store.Destinations(ctx, tenantID, p)
	})
	if err != nil {
		return nil, err
	}
	obs, err := h.store.Observations(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	m := &DataMap{Sources: []DataMapSource{}, Destinations: []DataMapDestination{}}
	for _, d := range dests {
		m.Destinations = append(m.Destinations, DataMapDestination{ID: d.ID, Name: d.Name, EventTypes: d.EventTypes, Fields: d.Fields})
	}
	bySource := map[string]*DataMapSource{}
	entry := func(id, name string) *DataMapSource {
		s := &DataMapSource{ID: id, Name: name, EventTypes: []string{}, SubjectTypes: []string{}, Flows: []DataMapFlow{}}
		bySource[id] = s
		return s
	}
	order := []string{}
	for _, s := range sources {
		entry(s.ID, s.Name)
		order = append(order, s.ID)
	}
	for _, o := range obs {
		s := bySource[o.SourceID]
		if s == nil {
			if o.SourceID != "" {
				continue // a deleted source: its events stay, its flows are gone
			}
			s = entry("", publishedSourceName)
			order = append(order, "")
		}
		switch o.Kind {
		case sluice.ObservedType:
			s.EventTypes = append(s.EventTypes, o.EventType)
			for _, d := range dests {
				if d.Matches(o.EventType, o.SourceID) {
					s.Flows = append(s.Flows, DataMapFlow{EventType: o.EventType, DestinationID: d.ID, Fields: d.Fields})
				}
			}
		case sluice.ObservedSubject:
			if !slices.Contains(s.SubjectTypes, o.Name) {
				s.SubjectTypes = append(s.SubjectTypes, o.Name)
			}
		}
	}
	for _, id := range order {
		slices.Sort(bySource[id].SubjectTypes)
		m.Sources = append(m.Sources, *bySource[id])
	}
	return m, nil
}
