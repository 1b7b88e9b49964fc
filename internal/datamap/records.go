package datamap

import (
	"context"
	"encoding/csv"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Record is one flow in a tenant's records of processing (GDPR Art. 30):
// one event type of one source going to one destination, with the data
// categories it carries, why and on what basis, to whom, for how long, and
// which safeguards apply. Like the map, it is built from configuration and
// observed shapes, never from payload values.
type Record struct {
	SourceID          string `json:"source_id"` // empty for published events
	SourceName        string `json:"source_name"`
	SourcePurpose     string `json:"source_purpose"`
	SourceLawfulBasis string `json:"source_lawful_basis"`
	SourceOwner       string `json:"source_owner"`
	EventType         string `json:"event_type"`
	// SubjectTypes and FieldPaths are the data categories: the kinds of
	// data subject the events are about, and the field paths the recipient
	// receives (every path observed, less what its allowlist leaves out).
	SubjectTypes []string `json:"subject_types"`
	FieldPaths   []string `json:"field_paths"`
	// The recipient: the destination, the host it is sent to, where it
	// keeps the data and who answers for it, and why it receives the data
	// on what basis.
	DestinationID   string `json:"destination_id"`
	DestinationName string `json:"destination_name"`
	RecipientHost   string `json:"recipient_host"`
	Region          string `json:"region"`
	Owner           string `json:"owner"`
	Purpose         string `json:"purpose"`
	LawfulBasis     string `json:"lawful_basis"`
	// PersonalDataAllowed is the destination's grant to receive what the
	// tenant restricts as personal data.
	PersonalDataAllowed bool `json:"personal_data_allowed"`
	// Retention is how long Sluice keeps the flow's data.
	Retention RecordRetention `json:"retention"`
	// The safeguards.
	Delivery           string   `json:"delivery"` // full or thin
	EncryptedAtRest    bool     `json:"encrypted_at_rest"`
	EncryptedInTransit bool     `json:"encrypted_in_transit"`
	Minimised          bool     `json:"minimised"`
	Pseudonymised      bool     `json:"pseudonymised"`
	PseudonymisedPaths []string `json:"pseudonymised_paths"`
}

// RecordRetention is a flow's effective retention, durations in Go's
// syntax.
type RecordRetention struct {
	PayloadStorage string `json:"payload_storage"`
	Undelivered    string `json:"undelivered"`
	Delivered      string `json:"delivered"`
	Metadata       string `json:"metadata"`
}

// RecordsStore is what BuildRecords reads: sluice.Store implements it.
type RecordsStore interface {
	Store
	Tenant(ctx context.Context, id string) (*sluice.Tenant, error)
}

// BuildRecords returns the tenant's records of processing, a record per
// flow of its data map, in the map's order. server is the server's
// retention, which the tenant's and each source's overrides refine.
// Errors are the store's.
func BuildRecords(ctx context.Context, store RecordsStore, tenantID string, server sluice.Retention) ([]Record, error) {
	t, err := store.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	in, err := load(ctx, store, tenantID)
	if err != nil {
		return nil, err
	}
	sources := make(map[string]*sluice.Source, len(in.sources))
	for _, s := range in.sources {
		sources[s.ID] = s
	}
	dests := make(map[string]*sluice.Destination, len(in.destinations))
	for _, d := range in.destinations {
		dests[d.ID] = d
	}
	type flowKey struct{ source, eventType string }
	paths := map[flowKey][]string{}
	for _, o := range in.observations {
		if o.Kind == sluice.ObservedField {
			k := flowKey{o.SourceID, o.EventType}
			paths[k] = append(paths[k], o.Name)
		}
	}
	tenantRetention := t.Retention.Or(server)
	records := []Record{}
	for _, s := range in.build().Sources {
		src := sources[s.ID] // nil for published events
		retention := tenantRetention
		if src != nil {
			retention = sluice.Retention{PayloadStorage: src.PayloadStorage, Delivered: src.PayloadRetention}.Or(retention)
		}
		for _, f := range s.Flows {
			d := dests[f.DestinationID]
			r := Record{SourceID: s.ID, SourceName: s.Name, EventType: f.EventType, SubjectTypes: s.SubjectTypes,
				FieldPaths: received(paths[flowKey{s.ID, f.EventType}], d.Fields), DestinationID: d.ID,
				DestinationName: d.Name, Region: d.Processing.Region, Owner: d.Processing.Owner,
				Purpose: d.Processing.Purpose, LawfulBasis: d.Processing.LawfulBasis,
				PersonalDataAllowed: d.PersonalData.Allowed, Retention: recordRetention(retention),
				Delivery: sluice.DeliveryFull, EncryptedAtRest: true, Minimised: d.Fields != nil,
				Pseudonymised: len(d.Pseudonymize) > 0, PseudonymisedPaths: nonNil(d.Pseudonymize)}
			if src != nil {
				p := src.Processing
				r.SourcePurpose, r.SourceLawfulBasis, r.SourceOwner = p.Purpose, p.LawfulBasis, p.Owner
			}
			if d.Thin() {
				r.Delivery = sluice.DeliveryThin
			}
			if u, err := url.Parse(d.URL); err == nil && d.URL != "" {
				r.RecipientHost, r.EncryptedInTransit = u.Hostname(), u.Scheme == "https"
			}
			records = append(records, r)
		}
	}
	return records, nil
}

// received returns, sorted, the observed paths a destination with the
// allowlist receives: all of them without one, else those an allowlisted
// path selects (itself, or a path within it).
func received(observed, allowlist []string) []string {
	out := []string{}
	for _, p := range observed {
		if allowlist == nil || slices.ContainsFunc(allowlist, func(f string) bool { return within(p, f) }) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// within reports whether path is the field f or inside it.
func within(path, f string) bool {
	rest, ok := strings.CutPrefix(path, f)
	return ok && (rest == "" || strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "[]"))
}

func recordRetention(r sluice.Retention) RecordRetention {
	text := func(d time.Duration) string { return d.String() }
	return RecordRetention{PayloadStorage: string(r.PayloadStorage), Undelivered: text(r.Undelivered),
		Delivered: text(r.Delivered), Metadata: text(r.Metadata)}
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// recordColumns are the columns of the records as CSV, in order.
var recordColumns = []struct {
	name  string
	value func(*Record) string
}{
	{"source_id", func(r *Record) string { return r.SourceID }},
	{"source_name", func(r *Record) string { return r.SourceName }},
	{"source_purpose", func(r *Record) string { return r.SourcePurpose }},
	{"source_lawful_basis", func(r *Record) string { return r.SourceLawfulBasis }},
	{"source_owner", func(r *Record) string { return r.SourceOwner }},
	{"event_type", func(r *Record) string { return r.EventType }},
	{"subject_types", func(r *Record) string { return strings.Join(r.SubjectTypes, "; ") }},
	{"field_paths", func(r *Record) string { return strings.Join(r.FieldPaths, "; ") }},
	{"destination_id", func(r *Record) string { return r.DestinationID }},
	{"destination_name", func(r *Record) string { return r.DestinationName }},
	{"recipient_host", func(r *Record) string { return r.RecipientHost }},
	{"region", func(r *Record) string { return r.Region }},
	{"owner", func(r *Record) string { return r.Owner }},
	{"purpose", func(r *Record) string { return r.Purpose }},
	{"lawful_basis", func(r *Record) string { return r.LawfulBasis }},
	{"personal_data_allowed", func(r *Record) string { return strconv.FormatBool(r.PersonalDataAllowed) }},
	{"payload_storage", func(r *Record) string { return r.Retention.PayloadStorage }},
	{"undelivered_retention", func(r *Record) string { return r.Retention.Undelivered }},
	{"payload_retention", func(r *Record) string { return r.Retention.Delivered }},
	{"metadata_retention", func(r *Record) string { return r.Retention.Metadata }},
	{"delivery", func(r *Record) string { return r.Delivery }},
	{"encrypted_at_rest", func(r *Record) string { return strconv.FormatBool(r.EncryptedAtRest) }},
	{"encrypted_in_transit", func(r *Record) string { return strconv.FormatBool(r.EncryptedInTransit) }},
	{"minimised", func(r *Record) string { return strconv.FormatBool(r.Minimised) }},
	{"pseudonymised", func(r *Record) string { return strconv.FormatBool(r.Pseudonymised) }},
	{"pseudonymised_paths", func(r *Record) string { return strings.Join(r.PseudonymisedPaths, "; ") }},
}

// WriteCSV writes the records as CSV with a header row, lists joined by
// "; ". A cell a spreadsheet would read as a formula (starting with =, +,
// -, @, a tab or a carriage return) is prefixed with a quote: names and
// purposes are typed by users, and the file is meant to be opened.
func WriteCSV(w io.Writer, records []Record) error {
	cw := csv.NewWriter(w)
	row := make([]string, len(recordColumns))
	for i, c := range recordColumns {
		row[i] = c.name
	}
	if err := cw.Write(row); err != nil {
		return err
	}
	for i := range records {
		for j, c := range recordColumns {
			row[j] = defuse(c.value(&records[i]))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuse keeps a spreadsheet from reading a cell as a formula.
func defuse(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
