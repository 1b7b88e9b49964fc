package api

import (
	"bytes"
	"net/http"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/datamap"
)

// getDataMap serves GET /v1/datamap: for each source, the event types seen,
// the subject types indexed, and which destination each type flows to with
// which fields. It is built from configuration and from observed types and
// paths, never from payload values. ?format=csv answers with the records
// of processing as CSV instead (see getRecords).
func (h *Handler) getDataMap(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	csv, err := wantsCSV(r)
	if err != nil {
		return err
	}
	if csv {
		return h.getRecords(w, r, key)
	}
	m, err := datamap.Build(r.Context(), h.store, key.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// getRecords serves GET /v1/datamap/records: the records of processing, a
// record per flow, as JSON or, with ?format=csv, as a CSV download.
func (h *Handler) getRecords(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	csv, err := wantsCSV(r)
	if err != nil {
		return err
	}
	records, err := datamap.BuildRecords(r.Context(), h.store, key.TenantID, h.cfg.Retention)
	if err != nil {
		return err
	}
	if !csv {
		writeJSON(w, http.StatusOK, struct {
			Records []datamap.Record `json:"records"`
		}{records})
		return nil
	}
	var buf bytes.Buffer
	if err := datamap.WriteCSV(&buf, records); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="records-of-processing.csv"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// wantsCSV reads ?format: json (the default) or csv.
func wantsCSV(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("format") {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	default:
		return false, sluice.Errorf(sluice.EINVALID, `format: must be "json" or "csv"`)
	}
}
