package api

import (
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/thin"
)

// Audit actions of thin deliveries' fetches. The entry's actor is the
// destination the fetch token was issued to, its resource the event.
const (
	auditFetch     = "event.fetch"      // the payload was read
	auditFetchGone = "event.fetch_gone" // a valid token came too late: expired, or the payload is gone
)

// errNoThinEvent answers every token that does not lead to a payload,
// whether forged, altered, of another key, of a deleted destination or
// delivery: they read the same, so none tells anything apart.
var errNoThinEvent = sluice.Errorf(sluice.ENOTFOUND, "no such thin event")

// fetchThin serves GET /v1/fetch/{token}, the fetch URL of a thin
// delivery: 200 with exactly what a full delivery to the destination
// would carry now (its controls applied), signed as a delivery is; 410
// when the token has expired or the payload is gone (erased, expired,
// never stored); 404 for anything else. The token is the credential:
// the route takes no API key. Each answer to a valid token is audited
// in the event's tenant; a forged one costs a MAC and no lookup.
func (h *Handler) fetchThin(w http.ResponseWriter, r *http.Request) {
	if err := h.fetch(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) fetch(w http.ResponseWriter, r *http.Request) error {
	grant, ok := thin.Open(h.cfg.FetchKey, r.PathValue("token"))
	if !ok {
		return errNoThinEvent
	}
	ctx := r.Context()
	c, err := h.store.FetchClaim(ctx, grant.DeliveryID)
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		return errNoThinEvent
	case err != nil:
		return err // a payload failing its integrity check is 500, logged by id
	}
	now := h.now()
	gone := ""
	switch {
	case grant.Expired(now):
		gone = "this fetch URL has expired"
	case c.Body == nil:
		gone = "the payload of this event has expired or was erased"
	}
	var req *deliver.Request
	if gone == "" {
		var errClass string
		if req, errClass = deliver.FullRequest(c, now); errClass != "" {
			// Its controls changed since: nothing of it may go now.
			gone = "nothing of this payload may be sent to this destination (" + errClass + ")"
		}
	}
	audit := &sluice.AuditEntry{TenantID: c.Delivery.TenantID, ActorKeyID: c.Delivery.DestinationID,
		Action: auditFetch, ResourceID: c.Delivery.EventID}
	if gone != "" {
		audit.Action = auditFetchGone
	}
	// No payload leaves unaudited.
	if err := h.store.RecordAudit(ctx, audit); err != nil {
		return err
	}
	if gone != "" {
		return sluice.Errorf(sluice.EGONE, "%s", gone)
	}
	for name, values := range req.Header {
		if name != "User-Agent" {
			w.Header()[name] = values
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(req.Body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(req.Body) // a failed write means the client went away
	return nil
}
