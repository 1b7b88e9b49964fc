package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/thin"
)

// Defaults and limits of the listen routes, which `sluice listen` uses.
const (
	// DefaultListenTTL is how long a listen destination lives after its
	// listener last asked for deliveries. It outlasts the longest wait, so
	// a listener that waits, forwards and reports keeps it alive.
	DefaultListenTTL = 2 * time.Minute
	// DefaultListenPoll is how often a waiting claim looks at the store
	// when nothing wakes it: for work another process stored without
	// notifications, and retries coming due.
	DefaultListenPoll = time.Second
	// maxListenWait bounds a claim's wait, well within the server's write
	// timeout and the idle timeouts of the proxies in between.
	maxListenWait = 30 * time.Second
	// defaultListenLimit and maxListenLimit bound the deliveries one claim
	// returns.
	defaultListenLimit = 10
	maxListenLimit     = 100
	// maxReportedAttempts bounds the attempts one report records.
	maxReportedAttempts = 100
	// maxReportedDuration bounds an attempt's reported duration.
	maxReportedDuration = time.Hour
)

// listenInput is the body of POST /v1/listen: a destination's filters and
// secret, without a URL (its listener forwards the deliveries itself).
type listenInput struct {
	Name       *string         `json:"name"`
	EventTypes *[]string       `json:"event_types"`
	SourceIDs  *[]string       `json:"source_ids"`
	Fields     json.RawMessage `json:"fields"`
	Secret     *string         `json:"secret"`
}

// createListen serves POST /v1/listen: a listen destination of the
// tenant, which lives as long as it is claimed from (ListenTTL after the
// last claim). It answers 201 with the destination and its secret; 409
// for a name another destination of the tenant has.
func (h *Handler) createListen(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in listenInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	id := sluice.NewID(sluice.PrefixDestination)
	// Named after its id unless named: the names of a tenant's
	// destinations are its own, and a developer may run two listeners.
	d := &sluice.Destination{ID: id, TenantID: key.TenantID, Name: "sluice listen " + id,
		EventTypes: []string{"*"}, Enabled: true, Kind: sluice.KindListen, ListenUntil: h.now().Add(h.cfg.ListenTTL)}
	given := destinationInput{Name: in.Name, EventTypes: in.EventTypes, SourceIDs: in.SourceIDs, Fields: in.Fields,
		Secret: in.Secret}
	if err := h.apply(r.Context(), h.policy, &given, d); err != nil {
		return err
	}
	return h.insertDestination(w, r, d)
}

// deleteListen serves DELETE /v1/listen/{id}: 204, or 404 for anything
// but one of the tenant's listen destinations.
func (h *Handler) deleteListen(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	d, err := h.store.Destination(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !d.Listening() {
		return sluice.Errorf(sluice.ENOTFOUND, "listen destination not found")
	}
	if err := h.store.DeleteDestination(r.Context(), key.TenantID, d.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listenDeliveryJSON is a claimed delivery as a listener gets it: the
// request the dispatcher would have sent (header names in lower case),
// which the listener forwards as it is, and when its lease ends (report
// the attempt before).
type listenDeliveryJSON struct {
	DeliveryID string            `json:"delivery_id"`
	EventID    string            `json:"event_id"`
	EventType  string            `json:"event_type"`
	Attempt    int               `json:"attempt"`
	Headers    map[string]string `json:"headers"`
	Body       []byte            `json:"body"` // standard base64 of the exact bytes signed
	LeaseUntil time.Time         `json:"lease_until"`
}

// claimListen serves POST /v1/listen/{id}/claim?wait=30s&limit=10: it
// claims the listen destination's due deliveries, waiting up to wait (at
// most maxListenWait; default none) for some to come due, and answers 200
// {"data": [...]}, empty when none did. Each claim keeps the destination
// alive. A claim is a POST, not a GET: it leases work, and a GET may be
// repeated by anything in between.
//
// The claims go through the store, so any process sharing it serves any
// listener. While it waits, a claim wakes when this process stores work
// (or hears another's, WakeListeners), and looks again every ListenPoll
// for the rest, such as retries coming due.
func (h *Handler) claimListen(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	wait, limit, err := listenClaimParams(r)
	if err != nil {
		return err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(h.cfg.ListenPoll)
	defer poll.Stop()
	id := r.PathValue("id")
	for {
		woken := h.listenWake.wait()
		now := h.now()
		claims, err := h.store.ClaimListen(r.Context(), sluice.ListenClaimRequest{TenantID: key.TenantID,
			DestinationID: id, Now: now, Limit: limit, Lease: h.cfg.DeliveryLease, KeepUntil: now.Add(h.cfg.ListenTTL)})
		if err != nil {
			return err
		}
		if len(claims) > 0 {
			return h.writeClaims(w, r, claims, now)
		}
		select {
		case <-woken:
		case <-poll.C:
		case <-deadline.C:
			return h.writeClaims(w, r, nil, now)
		case <-h.ending:
			return h.writeClaims(w, r, nil, now)
		case <-r.Context().Done():
			return nil // the listener went away; nobody reads an answer
		}
	}
}

// listenClaimParams reads ?wait= (a duration up to maxListenWait; default
// 0) and ?limit= (1 to maxListenLimit; default defaultListenLimit).
func listenClaimParams(r *http.Request) (time.Duration, int, error) {
	q := r.URL.Query()
	wait, limit := time.Duration(0), defaultListenLimit
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxListenWait {
			return 0, 0, sluice.Errorf(sluice.EINVALID, "wait: must be a duration from 0s to %s, such as 30s", maxListenWait)
		}
		wait = d
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListenLimit {
			return 0, 0, sluice.Errorf(sluice.EINVALID, "limit: must be an integer from 1 to %d", maxListenLimit)
		}
		limit = n
	}
	return wait, limit, nil
}

// writeClaims answers a claim with the claimed deliveries' requests,
// signed at now. A delivery whose request cannot be made (its payload
// does not reduce to the field allowlist) is recorded as failed here,
// as the dispatcher would. If the listener has gone, the claims are
// given back, due at once.
func (h *Handler) writeClaims(w http.ResponseWriter, r *http.Request, claims []*sluice.Claim, now time.Time) error {
	if err := r.Context().Err(); err != nil {
		ids := make([]string, len(claims))
		for i, c := range claims {
			ids[i] = c.Delivery.ID
		}
		return h.store.ReturnClaims(context.WithoutCancel(r.Context()), ids)
	}
	out := list[listenDeliveryJSON]{Data: make([]listenDeliveryJSON, 0, len(claims))}
	var failed []*sluice.AttemptResult
	var failedClaims []*sluice.Claim
	for _, c := range claims {
		// A thin delivery's fetch URL is built on the base the listener
		// reached the gateway by: its receiver is on the listener's side.
		req, errClass := deliver.NewRequest(c, now, thin.Issuer{Base: h.cfg.Origin.Base(r), Key: h.cfg.FetchKey})
		if errClass != "" {
			failed = append(failed, h.listenResult(c, deliver.Outcome{ErrClass: errClass}, now, now))
			failedClaims = append(failedClaims, c)
			continue
		}
		headers := make(map[string]string, len(req.Header))
		for name := range req.Header {
			headers[strings.ToLower(name)] = req.Header.Get(name)
		}
		out.Data = append(out.Data, listenDeliveryJSON{DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID,
			EventType: c.EventType, Attempt: c.Delivery.Attempts + 1, Headers: headers, Body: req.Body,
			LeaseUntil: now.Add(h.cfg.DeliveryLease)})
	}
	if len(failed) > 0 {
		h.recordListen(r, failedClaims, failed)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listenResult is deliver.Result for an attempt a listener made: a
// listen destination's health is its developer's receiver's, so its
// failures neither pause nor disable it; they are retried on the
// schedule like any other.
func (h *Handler) listenResult(c *sluice.Claim, o deliver.Outcome, at, end time.Time) *sluice.AttemptResult {
	res := deliver.Result(c, o, h.cfg.RetrySchedule, at, end)
	res.CountsForHealth, res.DisableDestination = false, ""
	return res
}

// recordListen records attempts of listen deliveries as the dispatcher
// records its own, counts them, and wakes the dispatcher for the notices
// they stored. It returns what became of each.
func (h *Handler) recordListen(r *http.Request, claims []*sluice.Claim, results []*sluice.AttemptResult) []sluice.AttemptRecorded {
	recorded := h.store.RecordAttempts(context.WithoutCancel(r.Context()), results)
	for i, rec := range recorded {
		if rec.Err != nil {
			continue
		}
		h.cfg.Metrics.Attempt(results[i], claims[i].Delivery.CreatedAt)
		if rec.Unclaimed {
			h.cfg.Wake()
		}
	}
	return recorded
}

// attemptReport is one attempt a listener reports: what the local
// receiver answered to the delivery it forwarded.
type attemptReport struct {
	DeliveryID string `json:"delivery_id"`
	Attempt    int    `json:"attempt"`
	// Status is the receiver's HTTP status; 0 when no answer came, and
	// Error then says why.
	Status int    `json:"status"`
	Error  string `json:"error"`
	// DurationMS is how long the attempt took, from sending to the answer.
	DurationMS int64 `json:"duration_ms"`
	// RetryAfter is the answer's Retry-After header, honoured on a 429 or
	// 503 as the dispatcher honours it.
	RetryAfter string `json:"retry_after"`
}

// reportableErrors are the error classes of an attempt that got no
// answer, which a listener may report.
var reportableErrors = map[string]bool{deliver.ErrClassTimeout: true, deliver.ErrClassDNS: true,
	deliver.ErrClassRefused: true, deliver.ErrClassConnect: true, deliver.ErrClassTLS: true,
	deliver.ErrClassNetwork: true}

// check validates one reported attempt, the index-th: EINVALID naming
// the field.
func (a *attemptReport) check(index int) error {
	switch {
	case a.DeliveryID == "":
		return sluice.Errorf(sluice.EINVALID, "attempts[%d].delivery_id: required", index)
	case a.Attempt < 1:
		return sluice.Errorf(sluice.EINVALID, "attempts[%d].attempt: required, the attempt number the claim gave", index)
	case a.Status != 0 && (a.Status < 100 || a.Status > 599):
		return sluice.Errorf(sluice.EINVALID, "attempts[%d].status: must be an HTTP status, or 0 when no answer came", index)
	case a.Status != 0 && a.Error != "":
		return sluice.Errorf(sluice.EINVALID, "attempts[%d].error: only when no answer came (status 0)", index)
	case a.Status == 0 && !reportableErrors[a.Error]:
		return sluice.Errorf(sluice.EINVALID, "attempts[%d].error: must be timeout, dns, refused, connect, tls or network when status is 0", index)
	case a.DurationMS < 0 || a.DurationMS > maxReportedDuration.Milliseconds():
		return sluice.Errorf(sluice.EINVALID, "attempts[%d].duration_ms: must be from 0 to %d", index,
			maxReportedDuration.Milliseconds())
	}
	return nil
}

// attemptRecordedJSON is what became of one reported attempt.
type attemptRecordedJSON struct {
	DeliveryID string `json:"delivery_id"`
	Attempt    int    `json:"attempt"`
	Recorded   bool   `json:"recorded"`
	// Status is the delivery's status after the attempt, and
	// NextAttemptAt its retry when it is pending; set when Recorded.
	Status        sluice.DeliveryStatus `json:"status,omitempty"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
	// Error says why it was not recorded: not_found for a delivery that is
	// not the destination's, conflict for one no longer claimed at that
	// attempt (its lease ended and it was claimed again, or it was
	// cancelled).
	Error *errorDetail `json:"error,omitempty"`
}

// errorDetail is the inside of the error shape.
type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// reportListen serves POST /v1/listen/{id}/attempts {"attempts": [...]}:
// each attempt is recorded as the dispatcher's are, through the same
// store call and with the same retry schedule, its delivery moving on to
// succeeded, pending (a retry) or exhausted. It answers 200 with what
// became of each, in order; 404 for anything but one of the tenant's
// listen destinations.
func (h *Handler) reportListen(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in struct {
		Attempts []attemptReport `json:"attempts"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.Attempts) == 0 || len(in.Attempts) > maxReportedAttempts {
		return sluice.Errorf(sluice.EINVALID, "attempts: list 1 to %d attempts", maxReportedAttempts)
	}
	ids := make([]string, len(in.Attempts))
	for i := range in.Attempts {
		if err := in.Attempts[i].check(i); err != nil {
			return err
		}
		ids[i] = in.Attempts[i].DeliveryID
	}
	claims, err := h.store.ListenDeliveries(r.Context(), key.TenantID, r.PathValue("id"), ids)
	if err != nil {
		return err
	}
	byID := make(map[string]*sluice.Claim, len(claims))
	for _, c := range claims {
		byID[c.Delivery.ID] = c
	}
	out := list[attemptRecordedJSON]{Data: make([]attemptRecordedJSON, len(in.Attempts))}
	var results []*sluice.AttemptResult
	var recordedClaims []*sluice.Claim
	var at []int // the report each result is of
	now := h.now()
	for i, a := range in.Attempts {
		out.Data[i] = attemptRecordedJSON{DeliveryID: a.DeliveryID, Attempt: a.Attempt}
		c := byID[a.DeliveryID]
		switch {
		case c == nil:
			out.Data[i].Error = &errorDetail{Code: sluice.ENOTFOUND, Message: "no such delivery to this listen destination"}
			continue
		case a.Attempt != c.Delivery.Attempts+1:
			out.Data[i].Error = &errorDetail{Code: sluice.ECONFLICT,
				Message: "the delivery has had " + strconv.Itoa(c.Delivery.Attempts) + " attempts"}
			continue
		}
		o := deliver.Outcome{ErrClass: a.Error}
		if a.Status != 0 {
			o = deliver.HTTPOutcome(a.Status, a.RetryAfter, now)
		}
		results = append(results, h.listenResult(c, o, now.Add(-time.Duration(a.DurationMS)*time.Millisecond), now))
		recordedClaims = append(recordedClaims, c)
		at = append(at, i)
	}
	for k, rec := range h.recordListen(r, recordedClaims, results) {
		d := &out.Data[at[k]]
		if rec.Err != nil {
			if sluice.ErrorCode(rec.Err) != sluice.ECONFLICT {
				return rec.Err // the store failed: the listener may report again
			}
			d.Error = &errorDetail{Code: sluice.ECONFLICT, Message: sluice.ErrorMessage(rec.Err)}
			continue
		}
		d.Recorded, d.Status = true, results[k].Status
		if d.Status == sluice.DeliveryPending {
			d.NextAttemptAt = &results[k].NextAttemptAt
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// wakeSignal wakes every goroutine waiting on it at once: the claims of
// listeners waiting for work.
type wakeSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next notify.
func (s *wakeSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// notify wakes those waiting.
func (s *wakeSignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// WakeListeners tells the listeners' waiting claims that work may be due
// now: another process sharing the store stored some. The API wakes them
// itself for the work it stores.
func (h *Handler) WakeListeners() { h.listenWake.notify() }

// EndLongPolls answers every waiting claim at once, with what it has, and
// every later one without waiting: the server is shutting down and should
// not wait for them. Register it with http.Server.RegisterOnShutdown.
func (h *Handler) EndLongPolls() { h.endOnce.Do(func() { close(h.ending) }) }
