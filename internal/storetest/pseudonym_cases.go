package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/pseudonym"
)

// pseudonymCases mint, record, resolve and erase the pseudonymous tokens of
// destinations with pseudonymize paths.
var pseudonymCases = []testCase{
	{name: "PseudonymTokens", fn: testPseudonymTokens},
	{name: "PseudonymErasure", fn: testPseudonymErasure},
	{name: "PseudonymsAcrossStores", fn: testPseudonymsAcrossStores},
	{name: "PseudonymsClaimedAtBirth", fn: testPseudonymsClaimedAtBirth},
	{name: "PseudonymsDeleteTenant", fn: testPseudonymsDeleteTenant},
}

// pseudonymizing creates an enabled destination of every event type that
// gets customer.email and user.id pseudonymised.
func (b *bundle) pseudonymizing(t *testing.T, ctx context.Context, tenantID string) *sluice.Destination {
	t.Helper()
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenantID, Name: "analytics",
		URL: "https://example.com/hook", EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Enabled: true, Pseudonymize: []string{"customer.email", "user.id"}}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	return d
}

// customerEvent publishes an order naming the customer and the user, due
// now, with the subjects given.
func (b *bundle) customerEvent(t *testing.T, tenantID, email string, userID int, subjects ...sluice.Subject) {
	t.Helper()
	ne := b.newEvent(tenantID, "order.created", "")
	ne.Payload.Body = []byte(`{"customer":{"email":"` + email + `","plan":"pro"},"user":{"id":` +
		strconv.Itoa(userID) + `},"total":12}`)
	ne.Subjects = subjects
	if _, _, err := b.create(b.ctx, ne, 0); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
}

// sent is what deliver.Body makes of a claim: the body the destination
// receives.
type sent struct {
	Customer struct {
		Email string `json:"email"`
		Plan  string `json:"plan"`
	} `json:"customer"`
	User struct {
		ID any `json:"id"` // a token, or the number sent
	} `json:"user"`
	Total int `json:"total"`
}

// userID is the token sent for the user's id; "" for none.
func (s sent) userID() string {
	id, _ := s.User.ID.(string)
	return id
}

// sentBodies claims every due delivery and returns what each destination
// is sent, by destination id.
func (b *bundle) sentBodies(t *testing.T, s storeLike) map[string]sent {
	t.Helper()
	claims, err := s.ClaimDue(b.ctx, sluice.ClaimRequest{Now: b.clock.Now(), Limit: 50, Lease: 30 * time.Second})
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	out := make(map[string]sent)
	for _, c := range claims {
		body, errClass := deliver.Body(c)
		if errClass != "" {
			t.Fatalf("Body of the delivery to %s: error class %q", c.Delivery.DestinationID, errClass)
		}
		var got sent
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("sent body %s: %v", body, err)
		}
		out[c.Delivery.DestinationID] = got
		if rs := s.RecordAttempts(b.ctx, []*sluice.AttemptResult{deliver.Result(c, deliver.Outcome{Status: 200},
			[]time.Duration{time.Second}, b.clock.Now(), b.clock.Now())}); rs[0].Err != nil {
			t.Fatalf("RecordAttempts: %v", rs[0].Err)
		}
	}
	return out
}

// storeLike is what the cases claim and resolve through: the bundle's
// store or another over the same database.
type storeLike interface {
	ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error)
	RecordAttempts(ctx context.Context, rs []*sluice.AttemptResult) []sluice.AttemptRecorded
	ResolvePseudonym(ctx context.Context, tenantID, destinationID, token string) (*sluice.Subject, error)
}

func wantSubject(t *testing.T, what string, s storeLike, ctx context.Context, tenantID, destinationID, token string, want sluice.Subject) {
	t.Helper()
	got, err := s.ResolvePseudonym(ctx, tenantID, destinationID, token)
	if err != nil || *got != want {
		t.Fatalf("%s: ResolvePseudonym = %+v, %v; want %+v", what, got, err, want)
	}
}

// A destination is sent tokens in place of the values at its paths: the
// same for one subject every time, whatever its spelling, and others at
// another destination. Each resolves, audited, at its own destination
// only, and the record of it holds no value in the clear.
func testPseudonymTokens(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d1 := b.pseudonymizing(t, ctx, ten.ID)
	d2 := b.pseudonymizing(t, ctx, ten.ID)
	plain := b.destination(t, ctx, ten.ID, "*")

	b.customerEvent(t, ten.ID, "Ada@Example.com", 42)
	first := b.sentBodies(t, b.store)
	b.customerEvent(t, ten.ID, "ada@example.com", 42)
	second := b.sentBodies(t, b.store)

	if got := first[plain.ID]; got.Customer.Email != "Ada@Example.com" {
		t.Fatalf("a destination without paths got %+v, want the values", got)
	}
	t1, t2 := first[d1.ID], first[d2.ID]
	for _, s := range []sent{t1, t2} {
		if !pseudonym.Valid(s.Customer.Email) || !pseudonym.Valid(s.userID()) || s.Customer.Plan != "pro" || s.Total != 12 {
			t.Fatalf("a pseudonymizing destination got %+v, want tokens for email and id, the rest as sent", s)
		}
	}
	if t1.Customer.Email == t2.Customer.Email || t1.User.ID == t2.User.ID {
		t.Fatalf("two destinations got the same tokens: %+v and %+v", t1, t2)
	}
	if second[d1.ID] != t1 || second[d2.ID] != t2 {
		t.Fatalf("the same subject got other tokens: %+v then %+v", t1, second[d1.ID])
	}

	email := sluice.Subject{Type: "email", Value: "ada@example.com"}
	wantSubject(t, "email token", b.store, ctx, ten.ID, d1.ID, t1.Customer.Email, email)
	wantSubject(t, "id token", b.store, ctx, ten.ID, d1.ID, t1.userID(), sluice.Subject{Type: "user_id", Value: "42"})
	wantSubject(t, "email token of d2", b.store, ctx, ten.ID, d2.ID, t2.Customer.Email, email)
	_, err := b.store.ResolvePseudonym(ctx, ten.ID, d2.ID, t1.Customer.Email)
	wantCode(t, "d1's token at d2", err, sluice.ENOTFOUND)
	other, otherCtx := b.tenant(t, "b")
	_, err = b.store.ResolvePseudonym(otherCtx, other.ID, d1.ID, t1.Customer.Email)
	wantCode(t, "another tenant's token", err, sluice.ENOTFOUND)
	_, err = b.store.ResolvePseudonym(ctx, ten.ID, d1.ID, "pst_nope")
	wantCode(t, "a malformed token", err, sluice.ENOTFOUND)

	entries, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	resolved := 0
	for _, e := range entries {
		if e.Action == "pseudonym.resolve" {
			resolved++
			if e.ResourceID != d1.ID && e.ResourceID != d2.ID {
				t.Fatalf("pseudonym.resolve names %q, want a destination", e.ResourceID)
			}
		}
	}
	if resolved != 5 {
		t.Fatalf("%d pseudonym.resolve entries, want 5 (one per resolution tried)", resolved)
	}

	row, err := b.driver.Read().Pseudonym(b.ctx, ten.ID, d1.ID, t1.Customer.Email)
	if err != nil {
		t.Fatalf("Pseudonym row: %v", err)
	}
	if bytes.Contains(row.SealedSubject, []byte("ada@example.com")) || bytes.Contains(row.SealedSubject, []byte("email")) {
		t.Fatal("the record of a token holds its subject in the clear")
	}
}

// Erasing a subject makes every token of it unresolvable, at every
// destination and in every store, whether or not its events named it;
// the other subjects' tokens keep resolving. A token handed out after the
// erasure is recorded again.
func testPseudonymErasure(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d1 := b.pseudonymizing(t, ctx, ten.ID)
	d2 := b.pseudonymizing(t, ctx, ten.ID)
	email := sluice.Subject{Type: "email", Value: "ada@example.com"}
	// One event names its subject, so the subject has a key before its
	// token is recorded; the other does not.
	b.customerEvent(t, ten.ID, "ada@example.com", 7, email)
	first := b.sentBodies(t, b.store)
	if len(first) != 2 {
		t.Fatalf("%d destinations sent to, want 2", len(first))
	}
	b.customerEvent(t, ten.ID, "grace@example.com", 8)
	grace := b.sentBodies(t, b.store)
	adaToken := first[d1.ID].Customer.Email
	wantSubject(t, "before the erasure", b.store, ctx, ten.ID, d1.ID, adaToken, email)

	for _, subj := range []sluice.Subject{email, {Type: "email", Value: "grace@example.com"}} {
		if _, err := b.store.EraseSubject(ctx, ten.ID, subj); err != nil {
			t.Fatalf("EraseSubject: %v", err)
		}
		for _, d := range []*sluice.Destination{d1, d2} {
			var token string
			if subj == email {
				token = first[d.ID].Customer.Email
			} else {
				token = grace[d.ID].Customer.Email
			}
			_, err := b.store.ResolvePseudonym(ctx, ten.ID, d.ID, token)
			wantCode(t, "a token of an erased subject", err, sluice.ENOTFOUND)
			_, err = b.driver.Read().Pseudonym(b.ctx, ten.ID, d.ID, token)
			wantCode(t, "the record of a token of an erased subject", err, sluice.ENOTFOUND)
			_, err = b.another(t).ResolvePseudonym(ctx, ten.ID, d.ID, token)
			wantCode(t, "a token of an erased subject, in another store", err, sluice.ENOTFOUND)
		}
	}
	wantSubject(t, "a user id's token", b.store, ctx, ten.ID, d1.ID, grace[d1.ID].userID(),
		sluice.Subject{Type: "user_id", Value: "8"})

	// The subject comes back: its token is the same, and resolves again.
	b.customerEvent(t, ten.ID, "ada@example.com", 7)
	again := b.sentBodies(t, b.store)
	if again[d1.ID].Customer.Email != adaToken {
		t.Fatal("a subject seen again after its erasure got another token")
	}
	wantSubject(t, "after the subject came back", b.store, ctx, ten.ID, d1.ID, adaToken, email)
}

// Every store sharing the database mints the same tokens and resolves
// those the others recorded.
func testPseudonymsAcrossStores(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.pseudonymizing(t, ctx, ten.ID)
	other := b.another(t)
	b.customerEvent(t, ten.ID, "ada@example.com", 1)
	here := b.sentBodies(t, b.store)
	b.customerEvent(t, ten.ID, "ADA@example.com", 1)
	there := b.sentBodies(t, other)
	if here[d.ID] != there[d.ID] {
		t.Fatalf("two stores minted other tokens: %+v and %+v", here[d.ID], there[d.ID])
	}
	wantSubject(t, "in the other store", other, ctx, ten.ID, d.ID, here[d.ID].Customer.Email,
		sluice.Subject{Type: "email", Value: "ada@example.com"})
}

// Deliveries created claimed carry their tokens too.
func testPseudonymsClaimedAtBirth(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.pseudonymizing(t, ctx, ten.ID)
	ne := b.newEvent(ten.ID, "order.created", "")
	ne.Payload.Body = []byte(`{"customer":{"email":"ada@example.com"},"user":{"id":"u-1"}}`)
	ne.Claim = &sluice.ClaimRequest{Now: b.clock.Now(), Limit: 10, Lease: 30 * time.Second}
	created, err := b.store.CreateEvent(ctx, ne, 0)
	if err != nil || len(created.Claims) != 1 {
		t.Fatalf("CreateEvent = %+v, %v; want one claim", created, err)
	}
	body, errClass := deliver.Body(created.Claims[0])
	if errClass != "" {
		t.Fatalf("Body: error class %q", errClass)
	}
	var got struct {
		Customer struct{ Email string }
		User     struct{ ID string }
	}
	if err := json.Unmarshal(body, &got); err != nil || !pseudonym.Valid(got.Customer.Email) || !pseudonym.Valid(got.User.ID) {
		t.Fatalf("sent %s, %v; want tokens", body, err)
	}
	wantSubject(t, "a token of a delivery claimed at birth", b.store, ctx, ten.ID, d.ID, got.User.ID,
		sluice.Subject{Type: "user_id", Value: "u-1"})
}

// Deleting a tenant deletes the records of its tokens.
func testPseudonymsDeleteTenant(t *testing.T, b *bundle) {
	_, opCtx := b.operator(t)
	ten, ctx := b.tenant(t, "gone")
	d := b.pseudonymizing(t, ctx, ten.ID)
	b.customerEvent(t, ten.ID, "ada@example.com", 1)
	token := b.sentBodies(t, b.store)[d.ID].Customer.Email
	if _, err := b.driver.Read().Pseudonym(b.ctx, ten.ID, d.ID, token); err != nil {
		t.Fatalf("Pseudonym before the deletion: %v", err)
	}
	if err := b.store.DeleteTenant(opCtx, ten.ID); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	_, err := b.driver.Read().Pseudonym(b.ctx, ten.ID, d.ID, token)
	wantCode(t, "the record of a deleted tenant's token", err, sluice.ENOTFOUND)
}
