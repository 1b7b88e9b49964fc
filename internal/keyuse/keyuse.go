// Package keyuse records when API keys authenticate, for access reviews
// (GET /v1/keys shows last_used_at). A use is kept at minute precision and
// each process remembers the minute it last wrote for each key, so a busy
// key costs at most one write a minute per process and no read at all.
package keyuse

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Store is where uses are recorded; sluice.Store implements it.
type Store interface {
	RecordKeyUse(ctx context.Context, keyID string, at time.Time) error
}

// writeTimeout bounds the write a request waits for, once a minute: a
// store that is slow to write does not hold up authentication long.
const writeTimeout = 2 * time.Second

// maxKeys bounds the minutes remembered; when full it starts again empty,
// which costs each key one more write.
const maxKeys = 10000

// Recorder records keys' uses. It is safe for concurrent use; share one
// between the API and the dashboard of a process.
type Recorder struct {
	store  Store
	logger *slog.Logger
	mu     sync.Mutex
	// written is the minute this process last recorded for each key id.
	written map[string]time.Time
}

// New returns a Recorder writing to store and logging failures (key ids
// and error classes only) to logger; nil logger: slog.Default().
func New(store Store, logger *slog.Logger) *Recorder {
	if logger == nil {
		logger = slog.Default()
	}
	return &Recorder{store: store, logger: logger, written: make(map[string]time.Time)}
}

// Used records that key authenticated at now, truncated to the minute. It
// writes only when neither the key as read nor this process has recorded
// that minute yet. A failed write does not fail the request: it is logged
// and not tried again before the next minute.
func (r *Recorder) Used(ctx context.Context, key *sluice.APIKey, now time.Time) {
	minute := now.UTC().Truncate(sluice.KeyUseMinute)
	if !key.LastUsedAt.Before(minute) {
		return
	}
	r.mu.Lock()
	if last, ok := r.written[key.ID]; ok && !last.Before(minute) {
		r.mu.Unlock()
		return
	}
	if len(r.written) >= maxKeys {
		clear(r.written)
	}
	r.written[key.ID] = minute
	r.mu.Unlock()
	// The write outlives a client that hangs up, briefly.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := r.store.RecordKeyUse(ctx, key.ID, minute); err != nil {
		r.logger.WarnContext(ctx, "key use not recorded", slog.String("key_id", key.ID),
			slog.String("error_class", errorClass(err)))
	}
}

// errorClass names what went wrong without its text, which might quote a
// query's values.
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return sluice.ErrorCode(err)
}
