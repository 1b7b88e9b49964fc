package auditlog

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Columns are the CSV's header row.
var Columns = []string{"id", "at", "actor_key_id", "actor_name", "action", "resource_id", "resource_name", "changes"}

// csvPage is how many entries the CSV reads from the store at a time.
const csvPage = 500

// ServeCSV answers with every entry of the tenant that matches the filter,
// newest first, as a CSV download: the Columns, then a row an entry, its
// changes as ChangeText joined by "; ". It reads the names once and the
// entries a page at a time, writing each page as it goes.
//
// An error before anything is written (an invalid filter is EINVALID, the
// store's) is returned for the caller to answer. One after the download
// has begun is logged, with the tenant's id only, and the response is
// aborted, so that the client sees it broken rather than short.
func ServeCSV(w http.ResponseWriter, r *http.Request, store Store, tenantID string, f sluice.AuditFilter, logger *slog.Logger) error {
	ctx := r.Context()
	entries, next, err := store.AuditEntries(ctx, tenantID, f, sluice.Page{Limit: csvPage})
	if err != nil {
		return err
	}
	names, err := LoadNames(ctx, store, tenantID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-log.csv"`)
	w.WriteHeader(http.StatusOK)
	err = writeCSV(ctx, w, store, tenantID, f, names, entries, next)
	if err != nil {
		logger.ErrorContext(ctx, "audit log CSV cut short", slog.String("tenant_id", tenantID), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
	return nil
}

// writeCSV writes the header, the first page's entries and every later
// page's, from the cursor next.
func writeCSV(ctx context.Context, w io.Writer, store Store, tenantID string, f sluice.AuditFilter, names Names,
	entries []*sluice.AuditEntry, next string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	for {
		for _, e := range entries {
			if err := cw.Write(Row(e, names)); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil || next == "" {
			return err
		}
		var err error
		if entries, next, err = store.AuditEntries(ctx, tenantID, f, sluice.Page{Limit: csvPage, Cursor: next}); err != nil {
			return err
		}
	}
}

// Row is an entry's CSV row, in the order of Columns. A cell a
// spreadsheet would read as a formula (a name starting with "=") starts
// with "'" instead.
func Row(e *sluice.AuditEntry, names Names) []string {
	changes := make([]string, len(e.Changes))
	for i, c := range e.Changes {
		changes[i] = ChangeText(c)
	}
	row := []string{e.ID, e.At.UTC().Format(time.RFC3339Nano), e.ActorKeyID, names.Of(e.ActorKeyID), e.Action,
		e.ResourceID, names.Of(e.ResourceID), strings.Join(changes, "; ")}
	for i, cell := range row {
		row[i] = defuse(cell)
	}
	return row
}

// defuse keeps a spreadsheet from reading a cell as a formula.
func defuse(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
