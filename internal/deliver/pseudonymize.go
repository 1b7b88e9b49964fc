package deliver

import (
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/pseudonym"
)

// pseudonymize replaces the values at the destination's pseudonymize
// paths in body by the tokens the store minted for them
// (sluice.Claim.Pseudonyms). It fails, and nothing is sent, when body is
// not a JSON object or a value has no token: a value is never sent in the
// clear to a destination that asked for it pseudonymised.
func pseudonymize(body []byte, c *sluice.Claim) ([]byte, error) {
	if len(c.Destination.Pseudonymize) == 0 {
		return body, nil
	}
	return pseudonym.Replace(body, c.Destination.Pseudonymize, c.Pseudonyms)
}
