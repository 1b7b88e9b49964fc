package deliver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
)

// maxResponseRead is how much of a response body is read, and thrown away,
// so the connection can be reused. None of it is kept.
const maxResponseRead = 64 << 10

// defaultContentType is sent when the stored payload has none.
const defaultContentType = "application/json"

// response is what one HTTP try of a delivery produced.
type response struct {
	status     int           // 0 when no response arrived
	errClass   string        // empty on success
	retryAfter time.Duration // from Retry-After on a 429 or 503
	hasRetry   bool
}

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
	resp := d.send(c, at)
	r := d.result(c, resp, at, d.now())
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
// SQLite's single writer takes them one after the other, so one would do;
// PostgreSQL records a batch statement by statement, in round trips, and
// needs several at once: with one it recorded half as many a second as it
// delivered; with 16 it records about a quarter more than with one call
// per success (32 and 64 were slower).
const maxRecorders = 16

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

// send POSTs the claim's body to its destination, signed for the attempt
// time at, and classifies what came back. The attempt has its own context:
// stopping the dispatcher lets it finish within Config.Timeout.
func (d *Dispatcher) send(c *sluice.Claim, at time.Time) response {
	// During a rotation's grace period both secrets sign.
	signer, err := signature.NewSigner(c.Destination.SigningSecrets(at)...)
	if err != nil {
		return response{errClass: ErrClassSigning}
	}
	// Only the allowlisted fields leave Sluice, and the signature covers
	// exactly what is sent.
	body := c.Body
	if len(c.Destination.Fields) > 0 {
		if body, err = selectFields(c.Body, c.Destination.Fields); err != nil {
			return response{errClass: ErrClassFields}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Destination.URL, bytes.NewReader(body))
	if err != nil {
		return response{errClass: ErrClassNetwork} // an unparsable URL: nothing was sent
	}
	contentType := c.ContentType
	if contentType == "" {
		contentType = defaultContentType
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", sluice.UserAgent())
	req.Header.Set(signature.HeaderID, c.Delivery.EventID)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, signer.Sign(c.Delivery.EventID, at, body))
	req.Header.Set(sluice.HeaderHops, strconv.Itoa(c.Hops+1))
	req.Header.Set(sluice.HeaderEventType, c.EventType)

	res, err := d.cfg.Client.Do(req)
	if err != nil {
		return response{errClass: classifyError(err)}
	}
	_, _ = io.CopyN(io.Discard, res.Body, maxResponseRead)
	_ = res.Body.Close()

	out := response{status: res.StatusCode}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
	case res.StatusCode >= 300 && res.StatusCode < 400:
		out.errClass = ErrClassRedirect
	default:
		out.errClass = ErrClassHTTPStatus
	}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		out.retryAfter, out.hasRetry = parseRetryAfter(res.Header.Get("Retry-After"), d.now())
	}
	return out
}

// result turns a response into the attempt to record and the delivery's
// next state: succeeded on 2xx; exhausted with the destination disabled on
// 410; otherwise pending for the next scheduled (or Retry-After) attempt, or
// exhausted when the schedule is used up.
func (d *Dispatcher) result(c *sluice.Claim, resp response, at, end time.Time) *sluice.AttemptResult {
	r := &sluice.AttemptResult{Attempt: sluice.Attempt{
		ID:            sluice.NewID(sluice.PrefixAttempt),
		TenantID:      c.Delivery.TenantID,
		DeliveryID:    c.Delivery.ID,
		EventID:       c.Delivery.EventID,
		DestinationID: c.Delivery.DestinationID,
		Number:        c.Delivery.Attempts + 1,
		Outcome:       sluice.AttemptFailed,
		HTTPStatus:    resp.status,
		Duration:      end.Sub(at),
		Error:         resp.errClass,
		At:            at,
	},
		EventType: c.EventType,
		Recovers:  c.Delivery.Recovers,
		Storage:   c.Storage,
		// A payload that cannot be minimized says nothing about the
		// destination's health.
		CountsForHealth: resp.errClass != ErrClassFields,
	}
	switch {
	case resp.errClass == "":
		r.Attempt.Outcome, r.Status = sluice.AttemptSucceeded, sluice.DeliverySucceeded
	case resp.status == http.StatusGone:
		r.Status, r.DisableDestination = sluice.DeliveryExhausted, sluice.DisabledGone
	case resp.errClass == ErrClassFields:
		r.Status = sluice.DeliveryExhausted // the same payload will never minimize
	default:
		delay, ok := NextDelay(d.cfg.RetrySchedule, r.Attempt.Number, nil)
		switch {
		case !ok:
			r.Status = sluice.DeliveryExhausted
		case resp.hasRetry:
			r.Status, r.NextAttemptAt = sluice.DeliveryPending, end.Add(resp.retryAfter)
		default:
			r.Status, r.NextAttemptAt = sluice.DeliveryPending, end.Add(delay)
		}
	}
	return r
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
