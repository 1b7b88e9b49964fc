package sqldb

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// processingJSON is a flow's records of processing as stored.
type processingJSON struct {
	Purpose     string `json:"purpose,omitempty"`
	LawfulBasis string `json:"lawful_basis,omitempty"`
	Owner       string `json:"owner,omitempty"`
	Region      string `json:"region,omitempty"`
}

// destinationOptionsJSON is the destinations.options column: the
// destination's exposure controls that are not secret.
type destinationOptionsJSON struct {
	Delivery     string         `json:"delivery,omitempty"`
	FetchTTLMS   int64          `json:"fetch_ttl_ms,omitempty"`
	Pseudonymize []string       `json:"pseudonymize,omitempty"`
	PersonalData grantJSON      `json:"personal_data,omitzero"`
	Processing   processingJSON `json:"processing,omitzero"`
}

type grantJSON struct {
	Allowed     bool   `json:"allowed,omitempty"`
	Purpose     string `json:"purpose,omitempty"`
	LawfulBasis string `json:"lawful_basis,omitempty"`
}

// restrictedJSON is the tenants.restricted column.
type restrictedJSON struct {
	Paths        []string `json:"paths,omitempty"`
	SubjectTypes []string `json:"subject_types,omitempty"`
}

func encodeDestinationOptions(d *sluice.Destination) (string, error) {
	b, err := json.Marshal(destinationOptionsJSON{Delivery: d.Delivery, FetchTTLMS: d.FetchTTL.Milliseconds(),
		Pseudonymize: d.Pseudonymize, PersonalData: grantJSON(d.PersonalData), Processing: processingJSON(d.Processing)})
	if err != nil {
		return "", fmt.Errorf("encode options of %s: %w", d.ID, err)
	}
	return string(b), nil
}

func decodeDestinationOptions(s string, d *sluice.Destination) error {
	var o destinationOptionsJSON
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return fmt.Errorf("decode options of %s: %w", d.ID, err)
	}
	d.Delivery, d.FetchTTL, d.Pseudonymize = o.Delivery, time.Duration(o.FetchTTLMS)*time.Millisecond, o.Pseudonymize
	d.PersonalData, d.Processing = sluice.PersonalDataGrant(o.PersonalData), sluice.Processing(o.Processing)
	return nil
}

func encodeProcessing(id string, p sluice.Processing) (string, error) {
	b, err := json.Marshal(processingJSON(p))
	if err != nil {
		return "", fmt.Errorf("encode processing of %s: %w", id, err)
	}
	return string(b), nil
}

func decodeProcessing(id, s string) (sluice.Processing, error) {
	var p processingJSON
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return sluice.Processing{}, fmt.Errorf("decode processing of %s: %w", id, err)
	}
	return sluice.Processing(p), nil
}

func encodeRestricted(t *sluice.Tenant) (string, error) {
	b, err := json.Marshal(restrictedJSON(t.Restricted))
	if err != nil {
		return "", fmt.Errorf("encode restricted data of %s: %w", t.ID, err)
	}
	return string(b), nil
}

func decodeRestricted(t *sluice.Tenant, s string) error {
	var r restrictedJSON
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return fmt.Errorf("decode restricted data of %s: %w", t.ID, err)
	}
	t.Restricted = sluice.RestrictedData(r)
	return nil
}
