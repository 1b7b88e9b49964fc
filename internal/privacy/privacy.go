// Package privacy is the data subject's rights as both the JSON API and
// the dashboard serve them: naming a subject, exporting every payload
// about it (the access right, audited without the subject), and showing
// a payload as JSON. Erasure itself is the store's (Store.EraseSubject).
package privacy

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/subject"
)

// Subject checks and normalises a subject a user names: EINVALID naming
// the field, never echoing the value.
func Subject(field, typ, value string) (sluice.Subject, error) {
	n, err := subject.Normalize(subject.Subject{Type: typ, Value: value})
	if err != nil {
		return sluice.Subject{}, sluice.Errorf(sluice.EINVALID, "%s: %v", field, err)
	}
	return sluice.Subject{Type: n.Type, Value: n.Value}, nil
}

// Store is what an export reads and audits; sluice.Store implements it.
type Store interface {
	SubjectPayloads(ctx context.Context, tenantID string, s sluice.Subject) ([]*sluice.SubjectPayload, error)
	RecordAudit(ctx context.Context, e *sluice.AuditEntry) error
	Observations(ctx context.Context, tenantID string) ([]*sluice.Observation, error)
}

// builtinTypes are the subject types Sluice itself finds and normalises.
var builtinTypes = []string{"email", "phone"}

// checkKnownType refuses a subject type the tenant has never had indexed,
// which a typo makes ("emial"): an export of it would answer nothing,
// however much is stored about the person. EINVALID naming the types
// indexed.
func checkKnownType(ctx context.Context, store Store, tenantID, typ string) error {
	if slices.Contains(builtinTypes, typ) {
		return nil
	}
	obs, err := store.Observations(ctx, tenantID)
	if err != nil {
		return err
	}
	known := slices.Clone(builtinTypes)
	for _, o := range obs {
		if o.Kind == sluice.ObservedSubject && !slices.Contains(known, o.Name) {
			if o.Name == typ {
				return nil
			}
			known = append(known, o.Name)
		}
	}
	slices.Sort(known)
	return sluice.Errorf(sluice.EINVALID, "type: no subject of type %q was ever indexed for this tenant; types indexed: %s",
		typ, strings.Join(known, ", "))
}

// Export is a subject's export, as GET /v1/subjects/export answers it.
type Export struct {
	Data []ExportedPayload `json:"data"`
	// NextCursor is always null: an export is never paged.
	NextCursor *string `json:"next_cursor"`
}

// ExportedPayload is one payload of an export.
type ExportedPayload struct {
	EventID      string          `json:"event_id"`
	Type         string          `json:"type"`
	ReceivedAt   time.Time       `json:"received_at"`
	Payload      json.RawMessage `json:"payload"`
	PayloadError string          `json:"payload_error,omitempty"`
}

// ExportSubject reads every retained payload about the subject of the
// type and value for key's tenant, and audits the export under key,
// without the subject. EFORBIDDEN for a viewer key, EINVALID for a subject
// that does not normalise.
func ExportSubject(ctx context.Context, store Store, key *sluice.APIKey, typ, value string) (*Export, error) {
	if err := key.RequireAdmin(); err != nil {
		return nil, err
	}
	subj, err := Subject("subject", typ, value)
	if err != nil {
		return nil, err
	}
	if err := checkKnownType(ctx, store, key.TenantID, subj.Type); err != nil {
		return nil, err
	}
	found, err := store.SubjectPayloads(ctx, key.TenantID, subj)
	if err != nil {
		return nil, err
	}
	if err := store.RecordAudit(ctx, &sluice.AuditEntry{TenantID: key.TenantID, ActorKeyID: key.ID,
		Action: "subject.export"}); err != nil {
		return nil, err
	}
	out := &Export{Data: make([]ExportedPayload, len(found))}
	for i, sp := range found {
		out.Data[i] = ExportedPayload{EventID: sp.EventID, Type: sp.Type, ReceivedAt: sp.ReceivedAt}
		if sp.IntegrityError {
			out.Data[i].PayloadError = "integrity"
		} else {
			out.Data[i].Payload = PayloadJSON(sp.Payload.Body)
		}
	}
	return out, nil
}

// PayloadJSON shows a stored body as JSON: itself when it is JSON, else as
// a JSON string.
func PayloadJSON(body []byte) json.RawMessage {
	if json.Valid(body) {
		return body
	}
	b, _ := json.Marshal(string(body)) // marshalling a string cannot fail
	return b
}
