package engine

import (
	"context"

	"github.com/sluicehq/sluice"
)

// ResumeDestination closes a paused destination's circuit by hand: its
// failures and pause are forgotten, as a successful probe would, so the
// deliveries the pause held back are due at once and the processes
// listening are told. It is audited as destination.resume, the actor in
// ctx its actor. ENOTFOUND for a destination that is not the tenant's,
// ECONFLICT for one that is not paused (a disabled one is enabled
// instead, which forgets its failures too).
func (s *Store) ResumeDestination(ctx context.Context, tenantID, id string) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		h, err := tx.LockHealth(ctx, tenantID, id)
		if err != nil {
			return err
		}
		switch {
		case h == nil:
			return sluice.Errorf(sluice.ENOTFOUND, "destination not found")
		case !h.Enabled:
			return sluice.Errorf(sluice.ECONFLICT, "the destination is disabled, not paused: enable it instead")
		case h.PausedUntil.IsZero():
			return sluice.Errorf(sluice.ECONFLICT, "the destination is not paused")
		}
		if err := tx.ResetDestinationHealth(ctx, id); err != nil {
			return err
		}
		if err := tx.AnnounceWork(ctx); err != nil {
			return err
		}
		return s.audit(ctx, tx, tenantID, "destination.resume", id)
	})
}
