package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/privacy"
)

// An event's delivery to one of the customer's endpoints, with its
// attempts: only those to that endpoint, never the event's other
// deliveries, its source or, without the session's grant, its payload.

// noSuchDelivery is the one refusal of an event the endpoint was not sent,
// whether it exists or not.
const noSuchDelivery = "There is no such delivery."

type portalDeliveryView struct {
	Destination *sluice.Destination
	Event       *sluice.Event
	Deliveries  []*sluice.Delivery
	Attempts    []*sluice.Attempt
	// Payload is shown only after an explicit, audited request, and only
	// with the session's grant; Shown says it is the payload, not why not.
	Payload string
	Shown   bool
}

// deliveryView reads the event's deliveries and attempts to the endpoint:
// ENOTFOUND, alike, for an endpoint out of scope, an unknown event, or
// one never delivered to it.
func (p *Portal) deliveryView(ctx context.Context, s *portalSession, id, eventID string) (*portalDeliveryView, error) {
	d, err := p.destination(ctx, s, id)
	if err != nil {
		return nil, err
	}
	ev, err := p.cfg.Store.Event(ctx, s.TenantID, eventID)
	if err != nil {
		return nil, err
	}
	v := &portalDeliveryView{Destination: d, Event: ev}
	deliveries, err := p.cfg.Store.Deliveries(ctx, s.TenantID, ev.ID)
	if err != nil {
		return nil, err
	}
	for _, dl := range deliveries {
		if dl.DestinationID == d.ID {
			v.Deliveries = append(v.Deliveries, dl)
		}
	}
	if len(v.Deliveries) == 0 {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no such delivery")
	}
	attempts, err := p.cfg.Store.Attempts(ctx, s.TenantID, ev.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range attempts {
		if a.DestinationID == d.ID {
			v.Attempts = append(v.Attempts, a)
		}
	}
	return v, nil
}

func (p *Portal) deliveryPage(w http.ResponseWriter, r *http.Request, s *portalSession) {
	v, err := p.deliveryView(r.Context(), s, r.PathValue("id"), r.PathValue("event_id"))
	if err != nil {
		p.deliveryNotFound(w, r, s, err)
		return
	}
	p.render(w, r, s, http.StatusOK, "portal_delivery.html", v)
}

func (p *Portal) deliveryNotFound(w http.ResponseWriter, r *http.Request, s *portalSession, err error) {
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		p.render(w, r, s, http.StatusNotFound, "portal_error.html", errorView{Message: noSuchDelivery})
		return
	}
	p.fail(w, r, s, err)
}

// revealPayload shows the event's payload on an explicit request, with the
// session's grant only, audited as event.payload_read under the portal
// session. Without the grant it answers 403 and reads nothing.
func (p *Portal) revealPayload(w http.ResponseWriter, r *http.Request, s *portalSession) {
	if !s.Scope.Payloads {
		p.render(w, r, s, http.StatusForbidden, "portal_error.html", errorView{Message: "Payloads are not shown in this portal."})
		return
	}
	ctx := r.Context()
	v, err := p.deliveryView(ctx, s, r.PathValue("id"), r.PathValue("event_id"))
	if err != nil {
		p.deliveryNotFound(w, r, s, err)
		return
	}
	status, err := p.readPayload(ctx, s, v)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, s, status, "portal_delivery.html", v)
}

// readPayload reads v's event's payload into v, as the dashboard does, when
// the endpoint is sent the whole of it: one whose tenant withholds
// personal data from it, or which is sent only some fields or has some
// pseudonymized, is shown no payload here either, since the stored one
// would show more than the endpoint receives.
func (p *Portal) readPayload(ctx context.Context, s *portalSession, v *portalDeliveryView) (int, error) {
	d, ev := v.Destination, v.Event
	t, err := p.cfg.Store.Tenant(ctx, s.TenantID)
	if err != nil {
		return 0, err
	}
	if len(d.Fields) > 0 || len(d.Pseudonymize) > 0 || (!t.Restricted.Empty() && !d.PersonalData.Allowed) {
		v.Payload = "No payload is shown: this endpoint is sent only part of it."
		return http.StatusForbidden, nil
	}
	if ev.PayloadState != sluice.PayloadRetained {
		v.Payload = "No payload is shown: it is " + string(ev.PayloadState) + "."
		return http.StatusOK, nil
	}
	pl, err := p.cfg.Store.Payload(ctx, s.TenantID, ev.ID)
	switch {
	case sluice.ErrorCode(err) == sluice.EGONE:
		v.Payload = "No payload is shown: it is " + string(sluice.PayloadExpired) + "."
		return http.StatusOK, nil
	case errors.Is(err, sluice.ErrIntegrity):
		p.cfg.Logger.ErrorContext(ctx, "portal: payload failed its integrity check", "event_id", ev.ID)
		v.Payload = "The payload could not be read."
		return http.StatusOK, nil
	case err != nil:
		return 0, err
	}
	if err := p.cfg.Store.RecordAudit(ctx, &sluice.AuditEntry{TenantID: s.TenantID, ActorKeyID: s.ID,
		Action: "event.payload_read", ResourceID: ev.ID}); err != nil {
		return 0, err
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, privacy.PayloadJSON(pl.Body), "", "  ") // PayloadJSON is valid JSON
	v.Payload, v.Shown = pretty.String(), true
	return http.StatusOK, nil
}
