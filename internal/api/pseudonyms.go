package api

import (
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/pseudonym"
)

// resolveInput is the body of POST /v1/pseudonyms/resolve.
type resolveInput struct {
	DestinationID string `json:"destination_id"`
	Token         string `json:"token"`
}

// resolvedJSON is the answer to POST /v1/pseudonyms/resolve.
type resolvedJSON struct {
	DestinationID string       `json:"destination_id"`
	Subject       subjectInput `json:"subject"`
}

// resolvePseudonym serves POST /v1/pseudonyms/resolve (admin only): the
// data subject behind a token a destination was sent, 404 when the
// destination was sent no such token or the subject was erased since.
// The store audits it as pseudonym.resolve, naming the destination only.
func (h *Handler) resolvePseudonym(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in resolveInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	switch {
	case !strings.HasPrefix(in.DestinationID, sluice.PrefixDestination):
		return sluice.Errorf(sluice.EINVALID, "destination_id: required, a destination's id (dst_…)")
	case !pseudonym.Valid(in.Token):
		return sluice.Errorf(sluice.EINVALID, "token: required, a pseudonymous token (pst_ and 32 characters)")
	}
	subj, err := h.store.ResolvePseudonym(r.Context(), key.TenantID, in.DestinationID, in.Token)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resolvedJSON{DestinationID: in.DestinationID,
		Subject: subjectInput{Type: subj.Type, Value: subj.Value}})
	return nil
}
