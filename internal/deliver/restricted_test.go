package deliver

import (
	"testing"

	"github.com/sluicehq/sluice"
)

// restrictedClaim is a claim of body for a destination without a grant,
// under the policy, of an event with its subjects at located.
func restrictedClaim(body string, policy sluice.RestrictedData, located ...sluice.SubjectPath) *sluice.Claim {
	return &sluice.Claim{Body: []byte(body), ContentType: "application/json", Restricted: policy, SubjectPaths: located}
}

func TestBodyWithholdsRestricted(t *testing.T) {
	t.Parallel()
	body := `{"id":"evt_1","customer":{"email":"ada@example.com","name":"Ada","id":"cus_1"},` +
		`"items":[{"sku":"a","buyer":"ada@example.com"},{"sku":"b","buyer":"bob@example.com"}],"note":"<b>&</b>"}`
	paths := sluice.RestrictedData{Paths: []string{"customer.name"}}
	emails := sluice.RestrictedData{SubjectTypes: []string{"email"}}
	located := []sluice.SubjectPath{{Path: "customer.email", Type: "email"}, {Path: "items.buyer", Type: "email"},
		{Path: "customer.id", Type: "customer_id"}}
	tests := []struct {
		name string
		c    *sluice.Claim
		want string
	}{
		{"a restricted path", restrictedClaim(body, paths),
			`{"customer":{"email":"ada@example.com","id":"cus_1"},"id":"evt_1","items":[{"sku":"a","buyer":"ada@example.com"},{"sku":"b","buyer":"bob@example.com"}],"note":"<b>&</b>"}`},
		{"a restricted subject type, nested and in arrays", restrictedClaim(body, emails, located...),
			`{"customer":{"id":"cus_1","name":"Ada"},"id":"evt_1","items":[{"sku":"a"},{"sku":"b"}],"note":"<b>&</b>"}`},
		{"paths through arrays as schema paths write them",
			restrictedClaim(body, sluice.RestrictedData{Paths: []string{"items[].sku", "customer.*"}}),
			`{"customer":{},"id":"evt_1","items":[{"buyer":"ada@example.com"},{"buyer":"bob@example.com"}],"note":"<b>&</b>"}`},
		{"an array index", restrictedClaim(body, sluice.RestrictedData{Paths: []string{"items.0"}}),
			`{"customer":{"email":"ada@example.com","name":"Ada","id":"cus_1"},"id":"evt_1","items":[{"sku":"b","buyer":"bob@example.com"}],"note":"<b>&</b>"}`},
		{"nothing restricted present: the body as it was",
			restrictedClaim(body, sluice.RestrictedData{Paths: []string{"missing", "id.deeper", "items.7"}}), body},
		{"no policy", restrictedClaim(body, sluice.RestrictedData{}, located...), body},
	}
	for _, tt := range tests {
		got, errClass := Body(tt.c)
		if errClass != "" || string(got) != tt.want {
			t.Errorf("%s: Body = %s, %q; want %s", tt.name, got, errClass, tt.want)
		}
	}
}

func TestBodyRestrictedGrant(t *testing.T) {
	t.Parallel()
	body := `{"customer":{"email":"ada@example.com"},"amount":1}`
	c := restrictedClaim(body, sluice.RestrictedData{Paths: []string{"customer.email"}})
	c.Destination.PersonalData = sluice.PersonalDataGrant{Allowed: true, Purpose: "billing", LawfulBasis: "contract"}
	if got, errClass := Body(c); errClass != "" || string(got) != body {
		t.Errorf("with a grant: Body = %s, %q; want everything", got, errClass)
	}
	// An allowlist naming a restricted field does not let it through
	// without a grant; with one, it does.
	c.Destination.Fields = []string{"customer.email", "amount"}
	if got, _ := Body(c); string(got) != `{"amount":1,"customer":{"email":"ada@example.com"}}` {
		t.Errorf("allowlist with a grant: Body = %s, want both fields", got)
	}
	c.Destination.PersonalData = sluice.PersonalDataGrant{}
	if got, errClass := Body(c); errClass != "" || string(got) != `{"amount":1}` {
		t.Errorf("allowlist without a grant: Body = %s, %q; want {\"amount\":1}", got, errClass)
	}
}

func TestBodyRestrictedNotJSON(t *testing.T) {
	t.Parallel()
	policy := sluice.RestrictedData{SubjectTypes: []string{"email"}}
	for _, body := range []string{"email=ada%40example.com", "<a>ada@example.com</a>", `{"broken":`} {
		c := restrictedClaim(body, policy)
		if got, errClass := Body(c); errClass != ErrClassFields || got != nil {
			t.Errorf("Body(%q) = %q, %q; want nothing, %q", body, got, errClass, ErrClassFields)
		}
		c.Destination.PersonalData.Allowed = true
		if got, errClass := Body(c); errClass != "" || string(got) != body {
			t.Errorf("with a grant: Body(%q) = %q, %q; want it whole", body, got, errClass)
		}
		if got, errClass := Body(restrictedClaim(body, sluice.RestrictedData{})); errClass != "" || string(got) != body {
			t.Errorf("without a policy: Body(%q) = %q, %q; want it whole", body, got, errClass)
		}
	}
	// A JSON value with no members has nothing to withhold.
	if got, errClass := Body(restrictedClaim(`"ada"`, policy)); errClass != "" || string(got) != `"ada"` {
		t.Errorf("Body of a JSON string = %q, %q", got, errClass)
	}
}
