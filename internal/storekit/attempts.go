package storekit

import (
	"cmp"
	"context"
	"iter"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
)

// AttemptBatch is what the stores' RecordAttempts share: each result's
// notices sealed before the transaction, the order the results are
// recorded in, and an error for each.
type AttemptBatch struct {
	results  []*sluice.AttemptResult
	notices  []SealedNotices
	order    []int   // indexes into results, by destination and delivery
	errs     []error // each result's, once Run has run
	sealErrs []error // the results that failed before the transaction
}

// SealedNotices are the notices recording one attempt may store: Notices
// in any case, Disabled (nil when it cannot happen) if the attempt
// disables its destination.
type SealedNotices struct {
	Notices  []Notice
	Disabled *Notice
}

// For returns the notices to store, given whether the attempt disabled
// its destination.
func (n SealedNotices) For(disabled bool) []Notice {
	if !disabled {
		return n.Notices
	}
	return append(slices.Clip(n.Notices), *n.Disabled)
}

// NewAttemptBatch seals the notices of each result. A result whose notices
// cannot be sealed fails alone.
func NewAttemptBatch(ctx context.Context, k *Keyring, rs []*sluice.AttemptResult) *AttemptBatch {
	b := &AttemptBatch{
		results:  rs,
		notices:  make([]SealedNotices, len(rs)),
		order:    make([]int, len(rs)),
		errs:     make([]error, len(rs)),
		sealErrs: make([]error, len(rs)),
	}
	for i, r := range rs {
		b.notices[i].Notices, b.notices[i].Disabled, b.sealErrs[i] = k.SealNotices(ctx, r)
		b.order[i] = i
	}
	// One order for every batch, so that concurrent transactions take the
	// rows of destinations and deliveries in the same order.
	slices.SortFunc(b.order, func(i, j int) int {
		x, y := &rs[i].Attempt, &rs[j].Attempt
		return cmp.Or(strings.Compare(x.DestinationID, y.DestinationID), strings.Compare(x.DeliveryID, y.DeliveryID))
	})
	return b
}

// Run records each result with record, inside the store's transaction, in
// the order of their destinations and deliveries. A result that fails with
// ECONFLICT, having changed nothing, is left out and the others go on; any
// other error ends Run with it, for the store to roll back. Run may run
// again if the transaction does.
func (b *AttemptBatch) Run(record func(r *sluice.AttemptResult, n SealedNotices) error) error {
	copy(b.errs, b.sealErrs)
	for _, i := range b.order {
		if b.errs[i] != nil {
			continue
		}
		err := record(b.results[i], b.notices[i])
		if err != nil && sluice.ErrorCode(err) != sluice.ECONFLICT {
			return err
		}
		b.errs[i] = err
	}
	return nil
}

// Each yields the results Run records, those not failed before the
// transaction, with their notices, in Run's order: a store can send their
// statements ahead of Run.
func (b *AttemptBatch) Each() iter.Seq2[*sluice.AttemptResult, SealedNotices] {
	return func(yield func(*sluice.AttemptResult, SealedNotices) bool) {
		for _, i := range b.order {
			if b.sealErrs[i] == nil && !yield(b.results[i], b.notices[i]) {
				return
			}
		}
	}
}

// Errors returns the error of each result, in the order given, given the
// transaction's: when that failed, so did every result that had not
// failed before it.
func (b *AttemptBatch) Errors(txErr error) []error {
	if txErr == nil {
		return b.errs
	}
	errs := slices.Clone(b.sealErrs)
	for i := range errs {
		if errs[i] == nil {
			errs[i] = txErr
		}
	}
	return errs
}
