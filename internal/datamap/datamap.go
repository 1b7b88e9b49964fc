// Package datamap builds a tenant's data map (docs/privacy.md): which
// source's events, of which types and about which subject types, flow to
// which destinations with which fields. The API serves it at GET
// /v1/datamap and the dashboard shows it; both build it here.
//
// It is built from configuration and from the event types and subject
// types the store observed, never from payload values.
package datamap

import (
	"context"
	"slices"

	"github.com/sluicehq/sluice"
)

// publishedSourceName names, in the map, the events published through the
// API, which come from no source: they are listed with an empty id.
const publishedSourceName = "published through the API"

// Map is a tenant's data map, in the JSON shape of GET /v1/datamap.
type Map struct {
	Sources      []Source      `json:"sources"`
	Destinations []Destination `json:"destinations"`
}

// Source is a source, or the published events (empty ID), with the event
// types seen from it, the subject types indexed in its events and where
// each type flows.
type Source struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	EventTypes   []string `json:"event_types"`
	SubjectTypes []string `json:"subject_types"`
	Flows        []Flow   `json:"flows"`
}

// Flow is one event type going to one destination, with the fields it
// receives.
type Flow struct {
	EventType     string   `json:"event_type"`
	DestinationID string   `json:"destination_id"`
	Fields        []string `json:"fields"` // null: the whole payload
}

// Destination is a destination and what it takes.
type Destination struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	EventTypes []string `json:"event_types"`
	Fields     []string `json:"fields"`
}

// Store is what Build reads: sluice.Store implements it.
type Store interface {
	Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Source, string, error)
	Destinations(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Destination, string, error)
	Observations(ctx context.Context, tenantID string) ([]*sluice.Observation, error)
}

// Build returns the tenant's data map: its sources in the store's order,
// then the published events once any were seen, each with its event types
// in the order of the store's observations and its subject types sorted. A
// deleted source's observations are left out: its events stay, its flows
// are gone. Errors are the store's.
func Build(ctx context.Context, store Store, tenantID string) (*Map, error) {
	in, err := load(ctx, store, tenantID)
	if err != nil {
		return nil, err
	}
	return in.build(), nil
}

// inputs are what a tenant's data map is built from.
type inputs struct {
	sources      []*sluice.Source
	destinations []*sluice.Destination
	observations []*sluice.Observation
}

func load(ctx context.Context, store Store, tenantID string) (*inputs, error) {
	var in inputs
	var err error
	in.sources, err = sluice.ListAll(func(p sluice.Page) ([]*sluice.Source, string, error) {
		return store.Sources(ctx, tenantID, p)
	})
	if err != nil {
		return nil, err
	}
	in.destinations, err = sluice.ListAll(func(p sluice.Page) ([]*sluice.Destination, string, error) {
		return store.Destinations(ctx, tenantID, p)
	})
	if err != nil {
		return nil, err
	}
	if in.observations, err = store.Observations(ctx, tenantID); err != nil {
		return nil, err
	}
	return &in, nil
}

func (in *inputs) build() *Map {
	dests := in.destinations
	m := &Map{Sources: []Source{}, Destinations: []Destination{}}
	for _, d := range dests {
		m.Destinations = append(m.Destinations, Destination{ID: d.ID, Name: d.Name, EventTypes: d.EventTypes, Fields: d.Fields})
	}
	bySource := map[string]*Source{}
	entry := func(id, name string) *Source {
		s := &Source{ID: id, Name: name, EventTypes: []string{}, SubjectTypes: []string{}, Flows: []Flow{}}
		bySource[id] = s
		return s
	}
	order := []string{}
	for _, s := range in.sources {
		entry(s.ID, s.Name)
		order = append(order, s.ID)
	}
	for _, o := range in.observations {
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
					s.Flows = append(s.Flows, Flow{EventType: o.EventType, DestinationID: d.ID, Fields: d.Fields})
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
	return m
}
