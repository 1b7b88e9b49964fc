package api

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/metrics"
)

// countReceived counts each request next answers as a received event of
// the way via, with its outcome and how long the answer took.
func (h *Handler) countReceived(via string, next http.HandlerFunc) http.HandlerFunc {
	if h.cfg.Metrics == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next(sw, r)
		h.cfg.Metrics.Received(via, outcomeOf(sw.status), time.Since(start))
	}
}

// outcomeOf names the outcome of an answer's status: accepted (202),
// duplicate (200), or the API error code of the status.
func outcomeOf(status int) string {
	switch status {
	case http.StatusAccepted:
		return metrics.OutcomeAccepted
	case http.StatusOK:
		return metrics.OutcomeDuplicate
	}
	for code, s := range errorStatuses { // one code a status
		if s == status {
			return code
		}
	}
	return sluice.EINTERNAL
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
