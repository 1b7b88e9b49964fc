package datamap_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/datamap"
)

// recordsStore adds the tenant to fakeStore.
type recordsStore struct {
	fakeStore
	tenant *sluice.Tenant
}

func (s *recordsStore) Tenant(context.Context, string) (*sluice.Tenant, error) { return s.tenant, nil }

func TestBuildRecords(t *testing.T) {
	t.Parallel()
	shop := &sluice.Source{ID: "src_shop", Name: "shop", PayloadRetention: 24 * time.Hour,
		Processing: sluice.Processing{Purpose: "orders", LawfulBasis: "contract", Owner: "shop@example.com"}}
	crm := &sluice.Destination{ID: "dst_crm", Name: "crm", URL: "https://crm.example.com/in", EventTypes: []string{"*"},
		Fields: []string{"customer"}, Pseudonymize: []string{"customer.email"}, Delivery: sluice.DeliveryThin,
		PersonalData: sluice.PersonalDataGrant{Allowed: true, Purpose: "support", LawfulBasis: "contract"},
		Processing:   sluice.Processing{Purpose: "support", LawfulBasis: "legitimate_interests", Owner: "crm@example.com", Region: "eu"}}
	ops := &sluice.Destination{ID: "dst_ops", Name: "=ops", URL: "http://10.0.0.5/hook", EventTypes: []string{"order.*"}}
	field := func(src, typ, path string) *sluice.Observation {
		return &sluice.Observation{SourceID: src, EventType: typ, Kind: sluice.ObservedField, Name: path}
	}
	store := &recordsStore{
		tenant: &sluice.Tenant{ID: "ten_1", Retention: sluice.Retention{Metadata: 48 * time.Hour}},
		fakeStore: fakeStore{sources: []*sluice.Source{shop}, destinations: []*sluice.Destination{crm, ops},
			observations: []*sluice.Observation{
				{SourceID: "src_shop", EventType: "order.paid", Kind: sluice.ObservedType},
				{SourceID: "src_shop", EventType: "order.paid", Kind: sluice.ObservedSubject, Name: "email"},
				field("src_shop", "order.paid", "id"),
				field("src_shop", "order.paid", "customer"),
				field("src_shop", "order.paid", "customer.email"),
				field("src_shop", "order.paid", "customers"),
				{EventType: "user.created", Kind: sluice.ObservedType},
			}}}
	records, err := datamap.BuildRecords(context.Background(), store, "ten_1", sluice.DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 3 {
		t.Fatalf("%d records, want order.paid to crm and ops, user.created to crm: %+v", len(records), records)
	}
	first := records[0]
	want := datamap.Record{SourceID: "src_shop", SourceName: "shop", SourcePurpose: "orders", SourceLawfulBasis: "contract",
		SourceOwner: "shop@example.com", EventType: "order.paid", SubjectTypes: []string{"email"},
		FieldPaths: []string{"customer", "customer.email"}, DestinationID: "dst_crm", DestinationName: "crm",
		RecipientHost: "crm.example.com", Region: "eu", Owner: "crm@example.com", Purpose: "support",
		LawfulBasis: "legitimate_interests", PersonalDataAllowed: true,
		Retention: datamap.RecordRetention{PayloadStorage: "retain", Undelivered: "72h0m0s", Delivered: "24h0m0s",
			Metadata: "48h0m0s"},
		Delivery: "thin", EncryptedAtRest: true, EncryptedInTransit: true, Minimised: true, Pseudonymised: true,
		PseudonymisedPaths: []string{"customer.email"}}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("record\n got %+v\nwant %+v", first, want)
	}
	if ops := records[1]; ops.DestinationID != "dst_ops" || ops.EncryptedInTransit || ops.Minimised ||
		!slices.Equal(ops.FieldPaths, []string{"customer", "customer.email", "customers", "id"}) {
		t.Errorf("ops record %+v", ops)
	}
	if pub := records[2]; pub.SourceID != "" || pub.EventType != "user.created" || pub.Retention.Delivered != "720h0m0s" ||
		len(pub.FieldPaths) != 0 {
		t.Errorf("published record %+v", pub)
	}

	var buf bytes.Buffer
	if err := datamap.WriteCSV(&buf, records); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "source_id" || rows[0][len(rows[0])-1] != "pseudonymised_paths" {
		t.Fatalf("csv rows %q", rows)
	}
	col := slices.Index(rows[0], "destination_name")
	if rows[2][col] != "'=ops" {
		t.Errorf("a name read as a formula is %q in the CSV, want it quoted", rows[2][col])
	}
	if col := slices.Index(rows[0], "field_paths"); rows[1][col] != "customer; customer.email" {
		t.Errorf("field paths cell %q", rows[1][col])
	}
}
