package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/privacy"
)

// Limits on a published event.
const (
	maxIdempotencyKeyLen = 255
	maxSubjects          = 100
)

// publishDedupPrefix namespaces idempotency keys among the dedup keys of a
// tenant, apart from the provider event ids of sources.
const publishDedupPrefix = "publish:"

// publishInput is the body of POST /v1/events.
type publishInput struct {
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey string          `json:"idempotency_key"`
	Subjects       []subjectInput  `json:"subjects"`
	Customer       string          `json:"customer"`
}

// subjectInput names a data subject an event is about.
type subjectInput struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func (in *publishInput) check() error {
	if err := sluice.ValidateEventType(in.Type); err != nil {
		return err
	}
	if len(in.Payload) == 0 {
		return sluice.Errorf(sluice.EINVALID, "payload: required (any JSON value)")
	}
	if len(in.IdempotencyKey) > maxIdempotencyKeyLen {
		return sluice.Errorf(sluice.EINVALID, "idempotency_key: at most %d bytes", maxIdempotencyKeyLen)
	}
	if len(in.Subjects) > maxSubjects {
		return sluice.Errorf(sluice.EINVALID, "subjects: at most %d", maxSubjects)
	}
	return sluice.ValidateCustomer(in.Customer)
}

// publishEvent serves POST /v1/events: 202 once the event, its payload and
// its deliveries are committed; 200 with duplicate for a repeated
// idempotency key.
func (h *Handler) publishEvent(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in publishInput
	if err := decodePublish(r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	subjects := make([]sluice.Subject, 0, len(in.Subjects))
	for i, given := range in.Subjects {
		subj, err := privacy.Subject(fmt.Sprintf("subjects[%d]", i), given.Type, given.Value)
		if err != nil {
			return err
		}
		subjects = append(subjects, subj)
	}
	hops, err := h.checkHops(r.Context(), r, key.TenantID, "", in.Type)
	if err != nil {
		return err
	}
	now := h.now()
	ne := &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: key.TenantID, Type: in.Type,
			Direction: sluice.Outbound, Customer: in.Customer, ReceivedAt: now},
		Payload:  sluice.Payload{Body: in.Payload, ContentType: "application/json", Hops: hops},
		Subjects: h.detectedSubjects(subjects, in.Payload, "application/json"),
	}
	if in.IdempotencyKey != "" {
		ne.DedupKey = publishDedupPrefix + in.IdempotencyKey
	}
	created, err := h.createEvent(r.Context(), ne)
	if err != nil {
		return err
	}
	writeStored(w, "id", created)
	return nil
}

// createEvent stores an event with its payload and deliveries, due after
// the first delay: those created claimed go to the dispatcher of this
// process, and it is woken for the others.
func (h *Handler) createEvent(ctx context.Context, ne *sluice.NewEvent) (*sluice.EventCreated, error) {
	var offer func([]*sluice.Claim)
	if h.cfg.Offers != nil {
		ne.Claim, offer = h.cfg.Offers.OfferRequest()
	}
	created, err := h.store.CreateEvent(ctx, ne, h.cfg.FirstDelay)
	if err != nil {
		return nil, err
	}
	if len(created.Claims) > 0 {
		offer(created.Claims)
	}
	if created.Unclaimed {
		h.cfg.Wake()
	}
	return created, nil
}

// eventJSON is an event's metadata as the API shows it.
type eventJSON struct {
	ID           string              `json:"id"`
	Type         string              `json:"type"`
	Direction    sluice.Direction    `json:"direction"`
	SourceID     *string             `json:"source_id"`
	Customer     string              `json:"customer,omitempty"`
	Status       sluice.EventStatus  `json:"status"`
	ReceivedAt   time.Time           `json:"received_at"`
	PayloadState sluice.PayloadState `json:"payload_state"`
}

func toEventJSON(e *sluice.Event) eventJSON {
	out := eventJSON{ID: e.ID, Type: e.Type, Direction: e.Direction, Customer: e.Customer, Status: e.Status,
		ReceivedAt: e.ReceivedAt, PayloadState: e.PayloadState}
	if e.SourceID != "" {
		out.SourceID = &e.SourceID
	}
	return out
}

// eventWithPayload is GET /v1/events/{id}: the metadata and, for an admin
// while it is retained, the payload.
type eventWithPayload struct {
	eventJSON
	Payload      json.RawMessage `json:"payload"`
	PayloadError string          `json:"payload_error,omitempty"`
}

// listEvents serves GET /v1/events: metadata only.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := sluice.EventFilter{Page: page, Type: q.Get("type"), SourceID: q.Get("source_id"),
		Status: sluice.EventStatus(q.Get("status")), Customer: q.Get("customer")}
	if f.Status != "" && !f.Status.Valid() {
		return sluice.Errorf(sluice.EINVALID, "status: must be one of %s", joinStatuses(sluice.EventStatuses))
	}
	if err := sluice.ValidateCustomer(f.Customer); err != nil {
		return err
	}
	events, next, err := h.store.Events(r.Context(), key.TenantID, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(events, next, toEventJSON))
	return nil
}

// getEvent serves GET /v1/events/{id}. An admin gets the payload while it is
// retained, and the read is audited; a viewer gets null.
func (h *Handler) getEvent(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	ctx, id := r.Context(), r.PathValue("id")
	ev, err := h.store.Event(ctx, key.TenantID, id)
	if err != nil {
		return err
	}
	out := eventWithPayload{eventJSON: toEventJSON(ev)}
	if key.Role == sluice.RoleAdmin && ev.PayloadState == sluice.PayloadRetained {
		p, err := h.store.Payload(ctx, key.TenantID, id)
		switch sluice.ErrorCode(err) {
		case "":
			if err := h.store.RecordAudit(ctx, &sluice.AuditEntry{TenantID: key.TenantID, ActorKeyID: key.ID,
				Action: "event.payload_read", ResourceID: id}); err != nil {
				return err
			}
			out.Payload = privacy.PayloadJSON(p.Body)
		case sluice.EGONE:
			// Past its expiry but not yet purged: it is expired already.
			out.PayloadState = sluice.PayloadExpired
		default:
			if !isIntegrity(err) {
				return err
			}
			h.logger.ErrorContext(ctx, "payload failed its integrity check", "event_id", id)
			out.PayloadError = "integrity"
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// joinStatuses lists statuses for a message: "pending, failed, …".
func joinStatuses(statuses []sluice.EventStatus) string {
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// deliveryJSON is one delivery of an event.
type deliveryJSON struct {
	ID            string                `json:"id"`
	EventID       string                `json:"event_id"`
	DestinationID string                `json:"destination_id"`
	Status        sluice.DeliveryStatus `json:"status"`
	Attempts      int                   `json:"attempts"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
}

func toDeliveryJSON(d *sluice.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, EventID: d.EventID, DestinationID: d.DestinationID, Status: d.Status,
		Attempts: d.Attempts}
	if d.Status == sluice.DeliveryPending && !d.NextAttemptAt.IsZero() {
		out.NextAttemptAt = &d.NextAttemptAt
	}
	return out
}

// listDeliveries serves GET /v1/events/{id}/deliveries.
func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	ds, err := h.store.Deliveries(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := h.holdForPause(r.Context(), key.TenantID, ds); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(ds, "", toDeliveryJSON))
	return nil
}

// listDestinationDeliveries serves GET /v1/destinations/{id}/deliveries:
// the destination's deliveries, newest first, paged.
func (h *Handler) listDestinationDeliveries(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	ds, next, err := h.store.DestinationDeliveries(r.Context(), key.TenantID, r.PathValue("id"), page)
	if err != nil {
		return err
	}
	if err := h.holdForPause(r.Context(), key.TenantID, ds); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(ds, next, toDeliveryJSON))
	return nil
}

// holdForPause moves the next attempt of pending deliveries to a paused
// destination to when its probe may go, as the circuit breaker will: the
// time stored may have passed already, and would say the delivery is
// overdue when it is held back.
func (h *Handler) holdForPause(ctx context.Context, tenantID string, ds []*sluice.Delivery) error {
	paused := map[string]time.Time{}
	for _, d := range ds {
		if d.Status != sluice.DeliveryPending {
			continue
		}
		until, seen := paused[d.DestinationID]
		if !seen {
			dest, err := h.store.Destination(ctx, tenantID, d.DestinationID)
			switch {
			case sluice.ErrorCode(err) == sluice.ENOTFOUND:
			case err != nil:
				return err
			case dest.State() == sluice.StatePaused:
				until = dest.PausedUntil
			}
			paused[d.DestinationID] = until
		}
		if d.NextAttemptAt.Before(until) {
			d.NextAttemptAt = until
		}
	}
	return nil
}

// attemptJSON is one attempt of an event's delivery: never a body.
type attemptJSON struct {
	ID            string                `json:"id"`
	DeliveryID    string                `json:"delivery_id"`
	DestinationID string                `json:"destination_id"`
	Attempt       int                   `json:"attempt"`
	Outcome       sluice.AttemptOutcome `json:"outcome"`
	HTTPStatus    *int                  `json:"http_status"`
	DurationMS    int64                 `json:"duration_ms"`
	Error         *string               `json:"error"`
	At            time.Time             `json:"at"`
}

func toAttemptJSON(a *sluice.Attempt) attemptJSON {
	out := attemptJSON{ID: a.ID, DeliveryID: a.DeliveryID, DestinationID: a.DestinationID, Attempt: a.Number,
		Outcome: a.Outcome, DurationMS: a.Duration.Milliseconds(), At: a.At}
	if a.HTTPStatus != 0 {
		out.HTTPStatus = &a.HTTPStatus
	}
	if a.Error != "" {
		out.Error = &a.Error
	}
	return out
}

// listAttempts serves GET /v1/events/{id}/attempts.
func (h *Handler) listAttempts(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	as, err := h.store.Attempts(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(as, "", toAttemptJSON))
	return nil
}
