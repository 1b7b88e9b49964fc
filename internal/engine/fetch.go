package engine

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice"
)

// FetchKey is the key that signs the fetch tokens of thin deliveries
// (seal.Master.FetchKey): the same in every process sharing the store.
func (s *Store) FetchKey() []byte { return s.keys.Master().FetchKey() }

// FetchClaim returns the delivery with the id as a Claim with its payload
// and its destination as they are now, for a thin delivery's fetch:
// ENOTFOUND when there is no such delivery or its destination was
// deleted. Its Body is nil when the payload is gone: erased, expired, or
// never stored (payload storage "none" is kept only in the memory of the
// process that received it, for its own retries). A payload whose
// subject was erased is gone too; one that fails its integrity check is
// an error matching sluice.ErrIntegrity.
func (s *Store) FetchClaim(ctx context.Context, deliveryID string) (*sluice.Claim, error) {
	rows, err := s.read.LoadClaims(ctx, []string{deliveryID}, s.now())
	if err != nil {
		return nil, fmt.Errorf("read delivery: %w", err)
	}
	if len(rows) == 0 {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no such delivery")
	}
	r := rows[0]
	c, err := s.claimOf(ctx, r)
	if err != nil {
		return nil, err
	}
	if r.Body == nil {
		return c, nil
	}
	var shares map[string][]KeyShareRow
	if r.KeyShare != nil {
		if shares, err = s.sharesOf(ctx, []string{c.Delivery.EventID}); err != nil {
			return nil, err
		}
	}
	payload := &PayloadRow{Body: r.Body, KeyShare: r.KeyShare}
	c.Body, _, err = s.openStoredPayload(ctx, c.Delivery.TenantID, c.Delivery.EventID, payload, shares[c.Delivery.EventID])
	switch {
	case err == errSubjectErased:
		c.Body = nil
	case err != nil:
		return nil, err
	}
	// The fetch answers with what a full delivery carries: restricted
	// data withheld and values pseudonymised as they would be.
	if err := s.completeClaims(ctx, []*sluice.Claim{c}); err != nil {
		return nil, err
	}
	return c, nil
}
