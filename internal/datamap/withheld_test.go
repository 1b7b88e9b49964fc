package datamap_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/datamap"
)

// A flow to a destination without a grant shows what the tenant's policy
// withholds from it: the restricted paths its events carried, the
// source's subject paths of a restricted type and the restricted subject
// types; a granted destination's flow shows nothing withheld.
func TestBuildWithheld(t *testing.T) {
	t.Parallel()
	shop := &sluice.Source{ID: "src_shop", Name: "shop",
		SubjectPaths: []sluice.SubjectPath{{Path: "customer.email", Type: "email"}, {Path: "customer.id", Type: "customer_id"}}}
	crm := &sluice.Destination{ID: "dst_crm", Name: "crm", EventTypes: []string{"*"},
		PersonalData: sluice.PersonalDataGrant{Allowed: true, Purpose: "support", LawfulBasis: "contract"}}
	stats := &sluice.Destination{ID: "dst_stats", Name: "stats", EventTypes: []string{"*"}}
	field := func(name string) *sluice.Observation {
		return &sluice.Observation{SourceID: "src_shop", EventType: "order.paid", Kind: sluice.ObservedField, Name: name}
	}
	store := &fakeStore{
		sources: []*sluice.Source{shop}, destinations: []*sluice.Destination{crm, stats},
		observations: []*sluice.Observation{
			{SourceID: "src_shop", EventType: "order.paid", Kind: sluice.ObservedType},
			field("customer"), field("customer.phone"), field("items[].note"), field("amount"),
			{SourceID: "src_shop", EventType: "order.paid", Kind: sluice.ObservedSubject, Name: "email"},
			{SourceID: "src_shop", EventType: "order.paid", Kind: sluice.ObservedSubject, Name: "customer_id"},
		},
		restricted: sluice.RestrictedData{Paths: []string{"customer.phone", "items.note", "never.seen"},
			SubjectTypes: []string{"email"}},
	}
	m, err := datamap.Build(context.Background(), store, "ten_1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(m.Sources[0].Flows)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"event_type":"order.paid","destination_id":"dst_crm","fields":null},` +
		`{"event_type":"order.paid","destination_id":"dst_stats","fields":null,"withheld":` +
		`{"paths":["customer.email","customer.phone","items.note"],"subject_types":["email"]}}]`
	if string(got) != want {
		t.Errorf("flows = %s\nwant    %s", got, want)
	}
}
