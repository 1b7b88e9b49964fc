package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/schema"
)

// Field paths stored by versions before schema.Paths recorded keys that
// are not identifiers as schema.Placeholder may hold personal data used as
// keys ("by_email.ada@example.com"), and so may the drift notices naming
// them. Open brings them to the present form.

// driftNoticesSetting records that the drift notices stored before field
// paths were redacted have had their payloads erased.
const driftNoticesSetting = "drift_notices_redacted"

// redactBatch bounds the notices erased in one transaction.
const redactBatch = 500

// redactStoredPaths renames the stored field paths that are not in the
// present form, erases once the payloads of the drift notices stored
// before, and scrubs what that deleted. It runs at every start: on a
// database shared with processes of an earlier version, they may store
// old paths until they stop.
func (s *Store) redactStoredPaths(ctx context.Context) error {
	renamed, err := s.renameOldPaths(ctx)
	if err != nil {
		return err
	}
	erased, err := s.eraseOldDriftNotices(ctx)
	if err != nil {
		return err
	}
	if renamed+erased > 0 {
		s.logger.InfoContext(ctx, "redacted field paths stored by an earlier version",
			"paths_renamed", renamed, "drift_notices_erased", erased)
		s.unscrubbed.Store(true)
		return s.Scrub(ctx)
	}
	return nil
}

// renameOldPaths renames every stored field path that is not in the present
// form, a source's event type at a time (see schema.RedactAll), in one
// transaction, and returns how many it renamed.
func (s *Store) renameOldPaths(ctx context.Context) (int, error) {
	all, err := s.read.FieldObservations(ctx)
	if err != nil {
		return 0, fmt.Errorf("read field paths: %w", err)
	}
	var renames []ObservationRename
	for start := 0; start < len(all); {
		end := start + 1
		for end < len(all) && sameShape(all[start], all[end]) {
			end++
		}
		group := all[start:end]
		start = end
		if !slices.ContainsFunc(group, func(o TenantObservation) bool { return schema.Redact(o.Name) != o.Name }) {
			continue
		}
		names := make([]string, len(group))
		for i, o := range group {
			names[i] = o.Name
		}
		for i, name := range schema.RedactAll(names) {
			if name != group[i].Name {
				renames = append(renames, ObservationRename{TenantObservation: group[i], New: name})
			}
		}
	}
	if len(renames) == 0 {
		return 0, nil
	}
	err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error { return tx.RenameObservations(ctx, renames) })
	if err != nil {
		return 0, fmt.Errorf("rename field paths: %w", err)
	}
	return len(renames), nil
}

// sameShape reports whether two observations are of one source's event type.
func sameShape(a, b TenantObservation) bool {
	return a.TenantID == b.TenantID && a.SourceID == b.SourceID && a.EventType == b.EventType
}

// eraseOldDriftNotices erases, once, the payloads of the drift notices
// stored before field paths were redacted, which may name personal data,
// and returns how many it erased. Their metadata stays, as after any
// erasure; their pending deliveries are cancelled.
func (s *Store) eraseOldDriftNotices(ctx context.Context) (int, error) {
	if _, err := s.read.Setting(ctx, driftNoticesSetting); err == nil {
		return 0, nil
	} else if sluice.ErrorCode(err) != sluice.ENOTFOUND {
		return 0, fmt.Errorf("read setting: %w", err)
	}
	// The setting is recorded once all are erased: a start interrupted
	// meanwhile erases the rest at the next. Processes starting together
	// may both erase, which erases nothing twice.
	total := 0
	for {
		found, n := 0, 0
		err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
			ids, err := tx.RetainedOfType(ctx, sluice.NoticeAnomalyPrefix+sluice.AnomalySchemaDrift, redactBatch)
			if err != nil {
				return err
			}
			found = len(ids)
			n, err = s.endPayloads(ctx, tx, ids, sluice.PayloadErased, sluice.DeliveryCancelled)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("erase drift notices: %w", err)
		}
		total += n
		if found < redactBatch {
			break
		}
	}
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		_, err := tx.InsertSetting(ctx, driftNoticesSetting, "1")
		return err
	})
	if err != nil {
		return total, fmt.Errorf("record drift notices erased: %w", err)
	}
	return total, nil
}
