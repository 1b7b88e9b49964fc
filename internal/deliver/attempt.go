package deliver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

// maxResponseRead is how much of a response body is read, and thrown away,
// so the connection can be reused. None of it is kept.
const maxResponseRead = 64 << 10

// deliver makes one attempt of a claimed delivery and has it recorded.
//
// A success is recorded in the background, with others (recordSuccesses):
// recording waits for a commit, and a worker held through it would cap a
// destination's throughput at PerDestination commits in flight. The lease
// keeps the delivery from being claimed again until it is recorded, and
// Stop waits for the recording.
//
// A failure is recorded before the worker moves on, and the destination's
// queued claims are given back to the store: the circuit breaker, which
// the store keeps, then decides whether they go, instead of a queue
// filled before the destination began to fail.
func (d *Dispatcher) deliver(c *sluice.Claim) {
	at := d.now()
	outcome := d.send(c, at)
	r := Result(c, outcome, d.cfg.RetrySchedule, at, d.now())
	if r.Attempt.Outcome == sluice.AttemptFailed {
		d.recordFailure(c, r)
		return
	}
	d.mu.Lock()
	d.recording++
	d.successes = append(d.successes, recording{c, r})
	start := d.recorders < maxRecorders
	if start {
		d.recorders++
		// Added while this worker is counted, so Stop's Wait is sound.
		d.workers.Add(1)
	}
	d.mu.Unlock()
	if start {
		go d.recordSuccesses()
	}
}

// recordFailure records a failed attempt, which may pause its destination,
// and then gives the destination's queued claims back to the store. Claims
// made while it does go back too (see placeSince).
func (d *Dispatcher) recordFailure(c *sluice.Claim, r *sluice.AttemptResult) {
	dest := c.Delivery.DestinationID
	d.mu.Lock()
	d.failing[dest]++
	d.noteFailure(dest)
	d.mu.Unlock()
	d.record(c, r)
	d.returnQueued(dest)
	d.mu.Lock()
	if d.failing[dest]--; d.failing[dest] == 0 {
		delete(d.failing, dest)
	}
	d.noteFailure(dest)
	d.mu.Unlock()
}

// maxLastFail bounds lastFail. Past it the map is emptied, and the claims
// begun before then are all given back (failedSince): that costs them a
// claim's round trip, never a delivery during a pause.
const maxLastFail = 4096

// noteFailure marks the start or the end of a failed attempt's recording
// for dest. Call it with d.mu held.
func (d *Dispatcher) noteFailure(dest string) {
	d.failSeq++
	if len(d.lastFail) >= maxLastFail {
		clear(d.lastFail)
		d.forgotten = d.failSeq - 1
	}
	d.lastFail[dest] = d.failSeq
}

// failedSince reports whether a failed attempt of dest was being recorded
// at any time since failSeq was seq. Call it with d.mu held.
func (d *Dispatcher) failedSince(dest string, seq uint64) bool {
	return d.failing[dest] > 0 || d.lastFail[dest] > seq || seq < d.forgotten
}

// maxRecordBatch bounds the successes recorded in one RecordAttempts.
const maxRecordBatch = 256

// maxRecorders bounds the RecordAttempts calls for successes in flight.
// SQLite's single writer takes them one after the other, so one would do.
// On PostgreSQL every call is a transaction whose COMMIT waits for its WAL
// flush, and the flushes of many at once queue behind each other: fewer,
// larger batches record more. Measured with `sluice bench` e2e on one
// process and new events' group commit: 16 delivered about 1,750 events a
// second, 8 about 2,300, 4 about 2,450, 2 about 2,600 and 1 about 2,700.
// Two keep one batch's round trips going while the other's COMMIT flushes,
// which a database farther away than loopback needs more.
const maxRecorders = 2

// recording is an attempt waiting to be recorded.
type recording struct {
	claim  *sluice.Claim
	result *sluice.AttemptResult
}

// recordSuccesses records the successful attempts waiting, in batches,
// until none is left. At most maxRecorders run: successes made while they
// wait for their commits go in their next batches, so under load each
// commit records many of them.
func (d *Dispatcher) recordSuccesses() {
	defer d.workers.Done()
	for {
		d.mu.Lock()
		n := min(len(d.successes), maxRecordBatch)
		if n == 0 {
			d.recorders--
			if len(d.successes) == 0 && cap(d.successes) > maxRecordBatch {
				d.successes = nil // let a burst's array go
			}
			d.mu.Unlock()
			return
		}
		batch := slices.Clone(d.successes[:n])
		d.successes = d.successes[n:]
		d.mu.Unlock()
		d.recordAll(batch)
		d.mu.Lock()
		d.recording -= n
		d.mu.Unlock()
	}
}

// send POSTs the claim's request (NewRequest) to its destination, signed
// for the attempt time at, with the destination's headers and credentials
// (authenticate) and through its client (presenting its client
// certificate, if it has one), and classifies what came back. The attempt
// has its own context: stopping the dispatcher lets it finish within
// Config.Timeout.
func (d *Dispatcher) send(c *sluice.Claim, at time.Time) Outcome {
	out, errClass := NewRequest(c, at, d.cfg.Fetch)
	if errClass != "" {
		return Outcome{ErrClass: errClass}
	}
	client, errClass := d.certs.clientFor(&c.Destination)
	if errClass != "" {
		return Outcome{ErrClass: errClass}
	}
	authenticate(out.Header, &c.Destination)
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Destination.URL, bytes.NewReader(out.Body))
	if err != nil {
		return Outcome{ErrClass: ErrClassNetwork} // an unparsable URL: nothing was sent
	}
	req.Header = out.Header
	res, err := client.Do(req)
	if err != nil {
		return Outcome{ErrClass: ClassifyError(err)}
	}
	_, _ = io.CopyN(io.Discard, res.Body, maxResponseRead)
	_ = res.Body.Close()
	return HTTPOutcome(res.StatusCode, res.Header.Get("Retry-After"), d.now())
}

// record stores one attempt (see recordAll).
func (d *Dispatcher) record(c *sluice.Claim, r *sluice.AttemptResult) {
	d.recordAll([]recording{{c, r}})
}

// recordAll stores attempts in one RecordAttempts and logs each.
func (d *Dispatcher) recordAll(batch []recording) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	rs := make([]*sluice.AttemptResult, len(batch))
	for i, rec := range batch {
		rs[i] = rec.result
	}
	recorded := d.store.RecordAttempts(ctx, rs)
	for i, rec := range batch {
		d.recorded(rec.claim, rec.result, recorded[i])
	}
}

// recorded acts on a recorded attempt and logs it. ECONFLICT means the
// lease ended before it was recorded and another worker has the delivery
// now: its attempt counts, ours is dropped. Any other failure leaves the
// delivery to be claimed again when its lease ends, so it is delivered at
// least once.
func (d *Dispatcher) recorded(c *sluice.Claim, r *sluice.AttemptResult, rec sluice.AttemptRecorded) {
	switch err := rec.Err; {
	case sluice.ErrorCode(err) == sluice.ECONFLICT:
		d.logAttempt(slog.LevelDebug, "attempt dropped: delivery taken by another worker after its lease ended", c, r)
		return
	case err != nil:
		d.logAttempt(slog.LevelError, "record attempt", c, r, slog.Any("error", err))
		return
	}
	d.cfg.Metrics.Attempt(r, c.Delivery.CreatedAt)
	switch r.Status {
	case sluice.DeliverySucceeded:
		d.logAttempt(slog.LevelDebug, "delivery succeeded", c, r)
	case sluice.DeliveryPending:
		d.logAttempt(slog.LevelInfo, "attempt failed, will retry", c, r, slog.Time("next_attempt_at", r.NextAttemptAt))
		d.wakeAt(r.NextAttemptAt)
	case sluice.DeliveryExhausted:
		d.logAttempt(slog.LevelWarn, "delivery exhausted", c, r)
	}
	if rec.Disabled != "" {
		d.logAttempt(slog.LevelWarn, "destination disabled", c, r, slog.String("reason", rec.Disabled))
	}
	if rec.Unclaimed {
		d.Wake() // the notices' deliveries are due now
	}
}

// logAttempt logs msg about an attempt with its ids, outcome, status and
// duration, never its payload or URL. The attributes are built only when
// the level is enabled: a success is logged at debug, usually off.
func (d *Dispatcher) logAttempt(level slog.Level, msg string, c *sluice.Claim, r *sluice.AttemptResult, extra ...slog.Attr) {
	ctx := context.Background()
	if !d.logger.Enabled(ctx, level) {
		return
	}
	attrs := append([]slog.Attr{
		slog.String("delivery_id", c.Delivery.ID),
		slog.String("event_id", c.Delivery.EventID),
		slog.String("destination_id", c.Delivery.DestinationID),
		slog.Int("attempt", r.Attempt.Number),
		slog.Int("status", r.Attempt.HTTPStatus),
		slog.String("outcome", string(r.Attempt.Outcome)),
		slog.Duration("duration", r.Attempt.Duration),
	}, extra...)
	if r.Attempt.Error != "" {
		attrs = append(attrs, slog.String("error_class", r.Attempt.Error))
	}
	d.logger.LogAttrs(ctx, level, msg, attrs...)
}
