package datamap_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/datamap"
)

// fakeStore answers Build's reads from its fields, one page each.
type fakeStore struct {
	sources      []*sluice.Source
	destinations []*sluice.Destination
	observations []*sluice.Observation
	err          error // returned by Observations
	restricted   sluice.RestrictedData
}

func (f *fakeStore) Tenant(_ context.Context, id string) (*sluice.Tenant, error) {
	return &sluice.Tenant{ID: id, Restricted: f.restricted}, nil
}

func (f *fakeStore) Sources(context.Context, string, sluice.Page) ([]*sluice.Source, string, error) {
	return f.sources, "", nil
}

func (f *fakeStore) Destinations(context.Context, string, sluice.Page) ([]*sluice.Destination, string, error) {
	return f.destinations, "", nil
}

func (f *fakeStore) Observations(context.Context, string) ([]*sluice.Observation, error) {
	return f.observations, f.err
}

func TestBuild(t *testing.T) {
	t.Parallel()
	shop := &sluice.Source{ID: "src_shop", Name: "shop"}
	idle := &sluice.Source{ID: "src_idle", Name: "idle"}
	analytics := &sluice.Destination{ID: "dst_analytics", Name: "analytics", EventTypes: []string{"*"}, Fields: []string{"id", "amount"}}
	orders := &sluice.Destination{ID: "dst_orders", Name: "orders", EventTypes: []string{"order.*"}, SourceIDs: []string{"src_shop"}}
	alerts := &sluice.Destination{ID: "dst_alerts", Name: "alerts", EventTypes: []string{"sluice.*"}}
	typ := func(src, t string) *sluice.Observation {
		return &sluice.Observation{SourceID: src, EventType: t, Kind: sluice.ObservedType}
	}
	subj := func(src, t, name string) *sluice.Observation {
		return &sluice.Observation{SourceID: src, EventType: t, Kind: sluice.ObservedSubject, Name: name}
	}
	tests := []struct {
		name  string
		store *fakeStore
		want  string
	}{
		{"nothing configured", &fakeStore{}, `{"sources":[],"destinations":[]}`},
		{"configured, nothing seen", &fakeStore{sources: []*sluice.Source{idle}, destinations: []*sluice.Destination{analytics}},
			`{"sources":[{"id":"src_idle","name":"idle","event_types":[],"subject_types":[],"flows":[]}],` +
				`"destinations":[{"id":"dst_analytics","name":"analytics","event_types":["*"],"fields":["id","amount"]}]}`},
		{"flows", &fakeStore{
			sources:      []*sluice.Source{shop, idle},
			destinations: []*sluice.Destination{analytics, orders, alerts},
			observations: []*sluice.Observation{
				typ("src_shop", "order.paid"),
				subj("src_shop", "order.paid", "phone"),
				subj("src_shop", "order.paid", "email"),
				{SourceID: "src_shop", EventType: "order.paid", Kind: sluice.ObservedField, Name: "amount"},
				typ("", "user.created"),
				subj("", "user.created", "email"),
				typ("", "order.paid"), // published: not from the shop, so not to orders
				subj("", "order.paid", "email"),
				typ("src_gone", "order.paid"), // a deleted source
				typ("", "sluice.delivery.exhausted"),
			}},
			`{"sources":[` +
				`{"id":"src_shop","name":"shop","event_types":["order.paid"],"subject_types":["email","phone"],"flows":[` +
				`{"event_type":"order.paid","destination_id":"dst_analytics","fields":["id","amount"]},` +
				`{"event_type":"order.paid","destination_id":"dst_orders","fields":null}]},` +
				`{"id":"src_idle","name":"idle","event_types":[],"subject_types":[],"flows":[]},` +
				`{"id":"","name":"published through the API","event_types":["user.created","order.paid","sluice.delivery.exhausted"],` +
				`"subject_types":["email"],"flows":[` +
				`{"event_type":"user.created","destination_id":"dst_analytics","fields":["id","amount"]},` +
				`{"event_type":"order.paid","destination_id":"dst_analytics","fields":["id","amount"]},` +
				`{"event_type":"sluice.delivery.exhausted","destination_id":"dst_alerts","fields":null}]}],` +
				`"destinations":[` +
				`{"id":"dst_analytics","name":"analytics","event_types":["*"],"fields":["id","amount"]},` +
				`{"id":"dst_orders","name":"orders","event_types":["order.*"],"fields":null},` +
				`{"id":"dst_alerts","name":"alerts","event_types":["sluice.*"],"fields":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := datamap.Build(context.Background(), tt.store, "ten_1")
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBuildReturnsTheStoresError(t *testing.T) {
	t.Parallel()
	failed := errors.New("store down")
	if _, err := datamap.Build(context.Background(), &fakeStore{err: failed}, "ten_1"); !errors.Is(err, failed) {
		t.Errorf("got %v, want %v", err, failed)
	}
}
