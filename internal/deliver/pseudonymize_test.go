package deliver

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/pseudonym"
	"github.com/sluicehq/sluice/internal/signature"
)

// pseudonymClaim is a claim of body to a destination with the fields and
// pseudonymize paths, carrying the tokens given.
func pseudonymClaim(body string, fields, paths []string, tokens map[string]string) *sluice.Claim {
	return &sluice.Claim{Body: []byte(body), Pseudonyms: tokens,
		Delivery:    sluice.Delivery{EventID: "evt_1"},
		Destination: sluice.Destination{ID: "dst_1", Fields: fields, Pseudonymize: paths, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
}

func TestBodyPseudonymizes(t *testing.T) {
	t.Parallel()
	body := `{"customer":{"email":"ada@example.com","name":"Ada"},"user":{"id":42},"total":12}`
	tokens := map[string]string{
		pseudonym.Key("customer.email", "ada@example.com"): "pst_aaaa",
		pseudonym.Key("user.id", "42"):                     "pst_bbbb",
	}
	paths := []string{"customer.email", "user.id"}
	tests := []struct {
		name   string
		fields []string
		want   string
	}{
		{"no allowlist", nil, `{"customer":{"email":"pst_aaaa","name":"Ada"},"total":12,"user":{"id":"pst_bbbb"}}`},
		// The allowlist selects by the original paths, and what it selects
		// is pseudonymised.
		{"allowlist of the paths", []string{"customer.email", "total"}, `{"customer":{"email":"pst_aaaa"},"total":12}`},
		{"allowlist around the paths", []string{"customer"}, `{"customer":{"email":"pst_aaaa","name":"Ada"}}`},
		{"allowlist without the paths", []string{"total"}, `{"total":12}`},
	}
	for _, tt := range tests {
		got, errClass := Body(pseudonymClaim(body, tt.fields, paths, tokens))
		if errClass != "" || string(got) != tt.want {
			t.Errorf("%s: Body = %s, %q; want %s", tt.name, got, errClass, tt.want)
		}
	}

	// What is signed is what is sent: the tokens.
	req, errClass := FullRequest(pseudonymClaim(body, nil, paths, tokens), time.Unix(1_700_000_000, 0))
	if errClass != "" || strings.Contains(string(req.Body), "ada@example.com") {
		t.Fatalf("NewRequest = %s, %q; want the tokens", req.Body, errClass)
	}
	if err := signature.Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", req.Header.Get(signature.HeaderID),
		req.Header.Get(signature.HeaderTimestamp), req.Header.Get(signature.HeaderSignature), req.Body,
		time.Unix(1_700_000_000, 0), time.Minute); err != nil {
		t.Fatalf("the pseudonymised body does not verify: %v", err)
	}
}

// A value without a token, or a payload whose values cannot be found, is
// never sent.
func TestBodyPseudonymizeFailsClosed(t *testing.T) {
	t.Parallel()
	paths := []string{"customer.email"}
	for _, c := range []*sluice.Claim{
		pseudonymClaim(`{"customer":{"email":"ada@example.com"}}`, nil, paths, nil),
		pseudonymClaim(`{"customer":{"email":"ada@example.com"}}`, nil, paths,
			map[string]string{pseudonym.Key("customer.email", "grace@example.com"): "pst_x"}),
		pseudonymClaim(`customer%5Bemail%5D=ada%40example.com`, nil, paths, nil),
	} {
		if got, errClass := Body(c); errClass != ErrClassFields || got != nil {
			t.Errorf("Body(%s) = %s, %q; want nothing and %q", c.Body, got, errClass, ErrClassFields)
		}
	}
	// Nothing to replace: sent as it is.
	c := pseudonymClaim(`{"customer":{"name":"Ada"}}`, nil, paths, nil)
	if got, errClass := Body(c); errClass != "" || string(got) != `{"customer":{"name":"Ada"}}` {
		t.Errorf("Body without values at the paths = %s, %q", got, errClass)
	}
}
