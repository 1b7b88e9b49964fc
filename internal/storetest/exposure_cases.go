package storetest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// exposureCases store the controls of what a destination is sent and the
// records of processing.
var exposureCases = []testCase{
	{name: "DestinationExposure", fn: testDestinationExposure},
	{name: "SourceProcessing", fn: testSourceProcessing},
	{name: "TenantRestrictedData", fn: testTenantRestrictedData},
}

// exposed returns a destination with every exposure control set.
func exposed(tenantID string) *sluice.Destination {
	return &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenantID, Name: "crm",
		URL: "https://crm.example.com/hooks", EventTypes: []string{"*"}, Enabled: true,
		Secret:   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Delivery: sluice.DeliveryThin, FetchTTL: 90 * time.Second, Pseudonymize: []string{"customer.email", "user.id"},
		PersonalData: sluice.PersonalDataGrant{Allowed: true, Purpose: "support", LawfulBasis: "contract"},
		Processing: sluice.Processing{Purpose: "customer support", LawfulBasis: "legitimate_interests",
			Owner: "dpo@example.com", Region: "eu"},
		Headers:    map[string]string{"X-Team": "billing", "X-Api-Key": "k-very-private-123"},
		Auth:       sluice.DestinationAuth{Type: sluice.AuthBasic, Username: "hooks", Password: "pa55-very-private"},
		ClientCert: sluice.ClientCertificate{CertPEM: "-----BEGIN CERTIFICATE-----", KeyPEM: "-----BEGIN PRIVATE KEY-----"},
	}
}

// wantSameExposure fails unless got carries want's exposure controls.
func wantSameExposure(t *testing.T, what string, got, want *sluice.Destination) {
	t.Helper()
	if got.Delivery != want.Delivery || got.FetchTTL != want.FetchTTL ||
		!reflect.DeepEqual(got.Pseudonymize, want.Pseudonymize) || got.PersonalData != want.PersonalData ||
		got.Processing != want.Processing || !reflect.DeepEqual(got.Headers, want.Headers) || got.Auth != want.Auth ||
		got.ClientCert != want.ClientCert {
		t.Fatalf("%s = %+v\nwant %+v", what, got, want)
	}
}

func testDestinationExposure(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := exposed(ten.ID)
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	got, err := b.store.Destination(b.ctx, ten.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSameExposure(t, "Destination", got, d)

	// At rest the credentials are sealed: not in the row's clear columns,
	// nor readable in its sealed bytes.
	row, err := b.driver.Read().Destination(b.ctx, ten.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Headers != nil || row.Auth != (sluice.DestinationAuth{}) || row.SealedCredentials == nil {
		t.Fatalf("stored row carries credentials in the clear: %+v", row)
	}
	for _, secret := range []string{"k-very-private-123", "pa55-very-private", "BEGIN PRIVATE KEY"} {
		if bytes.Contains(row.SealedCredentials, []byte(secret)) {
			t.Fatalf("sealed credentials contain a credential in the clear")
		}
	}

	// A claim carries them for the delivery.
	b.event(t, ctx, ten.ID, "order.created")
	claims := b.claim(t, 10)
	if len(claims) != 1 {
		t.Fatalf("%d claims, want 1", len(claims))
	}
	wantSameExposure(t, "claimed destination", &claims[0].Destination, d)

	// An update replaces them, and clearing them leaves no sealed column.
	got.Delivery, got.FetchTTL, got.Pseudonymize = sluice.DeliveryFull, 0, nil
	got.PersonalData, got.Processing = sluice.PersonalDataGrant{}, sluice.Processing{Purpose: "analytics"}
	got.Headers, got.Auth, got.ClientCert = nil, sluice.DestinationAuth{}, sluice.ClientCertificate{}
	if err := b.store.UpdateDestination(ctx, got); err != nil {
		t.Fatalf("UpdateDestination: %v", err)
	}
	again, _ := b.store.Destination(b.ctx, ten.ID, d.ID)
	wantSameExposure(t, "after update", again, got)
	if row, _ := b.driver.Read().Destination(b.ctx, ten.ID, d.ID); row.SealedCredentials != nil {
		t.Fatalf("cleared credentials still stored")
	}
	got.Auth = sluice.DestinationAuth{Type: sluice.AuthBearer, Token: "tok-private"}
	if err := b.store.UpdateDestination(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.store.Destination(b.ctx, ten.ID, d.ID); again.Auth != got.Auth {
		t.Fatalf("auth after update = %+v, want %+v", again.Auth, got.Auth)
	}
}

func testSourceProcessing(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	s := b.source(t, ten.ID)
	if got, _ := b.store.Source(b.ctx, ten.ID, s.ID); got.Processing != (sluice.Processing{}) {
		t.Fatalf("new source's processing = %+v, want none", got.Processing)
	}
	s.Processing = sluice.Processing{Purpose: "payments", LawfulBasis: "contract", Owner: "pay@example.com", Region: "us"}
	if err := b.store.UpdateSource(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, get := range []func() (*sluice.Source, error){
		func() (*sluice.Source, error) { return b.store.Source(b.ctx, ten.ID, s.ID) },
		func() (*sluice.Source, error) { return b.store.IngestSource(b.ctx, s.ID) },
	} {
		if got, err := get(); err != nil || got.Processing != s.Processing {
			t.Fatalf("processing = %+v, %v; want %+v", got.Processing, err, s.Processing)
		}
	}
}

func testTenantRestrictedData(t *testing.T, b *bundle) {
	ten, _ := b.tenant(t, "a")
	got, err := b.store.Tenant(b.ctx, ten.ID)
	if err != nil || !got.Restricted.Empty() {
		t.Fatalf("new tenant's restricted data = %+v, %v; want none", got.Restricted, err)
	}
	got.Restricted = sluice.RestrictedData{Paths: []string{"customer.phone"}, SubjectTypes: []string{"email"}}
	if err := b.store.UpdateTenant(b.ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := b.store.Tenant(b.ctx, ten.ID)
	if err != nil || !reflect.DeepEqual(again.Restricted, got.Restricted) {
		t.Fatalf("restricted data = %+v, %v; want %+v", again.Restricted, err, got.Restricted)
	}
}
