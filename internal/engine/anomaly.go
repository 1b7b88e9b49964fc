package engine

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/anomaly"
)

// AnomalySharer is implemented by drivers whose database several
// processes share: they exchange their anomaly counts through it, so
// that each judges bursts and verification failures on the traffic of
// all (see anomaly.Count).
type AnomalySharer interface {
	// ShareAnomalyCounts adds add to the shared counts, and returns the
	// totals of every process's for the parts from since on.
	ShareAnomalyCounts(ctx context.Context, add []anomaly.Count, since time.Time) ([]anomaly.Count, error)
}

// AnomalyShareInterval is how often a process should share its anomaly
// counts (ShareAnomalyCounts): a part of the detector's window, so that
// the totals each process judges by lag the others' by about that.
func (s *Store) AnomalyShareInterval() time.Duration { return s.anomalies.PartLength() }

// SharesAnomalyCounts reports whether the store's database is shared by
// processes that should exchange their anomaly counts.
func (s *Store) SharesAnomalyCounts() bool {
	_, ok := s.driver.(AnomalySharer)
	return ok
}

// ShareAnomalyCounts sends this process's anomaly counts to the shared
// database and takes every process's totals back into the detector. With
// a driver that shares nothing, it does nothing.
func (s *Store) ShareAnomalyCounts(ctx context.Context) error {
	sharer, ok := s.driver.(AnomalySharer)
	if !ok {
		return nil
	}
	now := s.now()
	totals, err := sharer.ShareAnomalyCounts(ctx, s.anomalies.Unshared(), s.anomalies.Since(now))
	if err != nil {
		return err
	}
	s.anomalies.Merge(totals, now)
	return nil
}
