package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
	"github.com/sluicehq/sluice/internal/subject"
)

// maxVerificationField bounds each field of a verification rule as given.
const maxVerificationField = 1024

// sourceJSON is a source as the API shows it: never its secret or password.
type sourceJSON struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Verification       verificationJSON  `json:"verification"`
	EventTypePath      string            `json:"event_type_path"`
	EventIDPath        string            `json:"event_id_path"`
	SubjectPaths       []subjectPathJSON `json:"subject_paths"`
	AllowedIPs         []string          `json:"allowed_ips"`
	RateLimitPerSecond *int              `json:"rate_limit_per_second"`
	PayloadRetention   *string           `json:"payload_retention"`
	PayloadStorage     *string           `json:"payload_storage"`
	Enabled            bool              `json:"enabled"`
	IngestURL          string            `json:"ingest_url"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	processingJSON
}

// verificationJSON is a verification rule as shown and as given. Secret and
// Password are only ever read from requests.
type verificationJSON struct {
	Type      string `json:"type"`
	Secret    string `json:"secret,omitempty"`
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Username  string `json:"username,omitempty"`
	Password  string `json:"password,omitempty"`
}

type subjectPathJSON struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

// subjectPathList is subject_paths as a request gives it: an item that is
// not an object is refused naming its index.
type subjectPathList []subjectPathJSON

func (l *subjectPathList) UnmarshalJSON(data []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return &inputError{`subject_paths: must be an array of {"path", "type"} objects`}
	}
	*l = make(subjectPathList, len(items))
	for i, item := range items {
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&(*l)[i]); err != nil {
			return &inputError{fmt.Sprintf(`subject_paths[%d]: must be an object {"path": "data.email", "type": "email"}`, i)}
		}
	}
	return nil
}

func toSourceJSON(s *sluice.Source, base string) sourceJSON {
	v := s.Verification
	out := sourceJSON{
		ID: s.ID, Name: s.Name,
		Verification: verificationJSON{Type: v.Type, Header: v.Header, Algorithm: v.Algorithm, Encoding: v.Encoding,
			Prefix: v.Prefix, Username: v.Username},
		EventTypePath: s.EventTypePath, EventIDPath: s.EventIDPath,
		SubjectPaths: make([]subjectPathJSON, len(s.SubjectPaths)), AllowedIPs: make([]string, len(s.AllowedIPs)),
		Enabled: s.Enabled, IngestURL: base + "/in/" + s.ID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		processingJSON: toProcessingJSON(s.Processing),
	}
	for i, p := range s.SubjectPaths {
		out.SubjectPaths[i] = subjectPathJSON(p)
	}
	for i, p := range s.AllowedIPs {
		out.AllowedIPs[i] = p.String()
	}
	if s.RateLimitPerSecond > 0 {
		out.RateLimitPerSecond = &s.RateLimitPerSecond
	}
	if s.PayloadRetention > 0 {
		r := s.PayloadRetention.String()
		out.PayloadRetention = &r
	}
	if s.PayloadStorage != "" {
		st := string(s.PayloadStorage)
		out.PayloadStorage = &st
	}
	return out
}

// baseURL is the base URL the request reached Sluice at, for ingest
// URLs (see origin.Origin.Base).
func (h *Handler) baseURL(r *http.Request) string { return h.cfg.Origin.Base(r) }

// sourceInput is the body of POST and PATCH /v1/sources: a nil field is
// left as it is (PATCH) or takes its default (POST).
type sourceInput struct {
	Name               *string           `json:"name"`
	Verification       *verificationJSON `json:"verification"`
	EventTypePath      *string           `json:"event_type_path"`
	EventIDPath        *string           `json:"event_id_path"`
	SubjectPaths       *subjectPathList  `json:"subject_paths"`
	AllowedIPs         *[]string         `json:"allowed_ips"`
	RateLimitPerSecond *int              `json:"rate_limit_per_second"`
	PayloadRetention   *string           `json:"payload_retention"`
	PayloadStorage     *string           `json:"payload_storage"`
	Enabled            *bool             `json:"enabled"`
	processingJSON
}

// apply checks in and sets its fields on s: EINVALID naming the first
// field that is wrong. Paths left unset follow the verification type's
// defaults, also when a PATCH changes the type.
//
// Source.Validate checks what in changes first, so a list that is too long
// is refused for its length before its entries are read; then come the
// checks of the packages that read paths, subject types and verification
// rules. The switch alone is never refused: a source stored under older
// rules can still be turned off.
func (in *sourceInput) apply(s *sluice.Source) error {
	if in.Name != nil {
		s.Name = *in.Name
	}
	if in.SubjectPaths != nil {
		s.SubjectPaths = nil
		for _, p := range *in.SubjectPaths {
			s.SubjectPaths = append(s.SubjectPaths, sluice.SubjectPath(p))
		}
	}
	if in.AllowedIPs != nil {
		s.AllowedIPs = nil
		if n := len(*in.AllowedIPs); n > 0 {
			s.AllowedIPs = make([]netip.Prefix, n) // counted by Validate, parsed below
		}
	}
	if in.RateLimitPerSecond != nil {
		s.RateLimitPerSecond = *in.RateLimitPerSecond
	}
	if in.PayloadRetention != nil {
		s.PayloadRetention = 0
		if *in.PayloadRetention != "" {
			d, err := time.ParseDuration(*in.PayloadRetention)
			if err != nil || d <= 0 { // "" is the default; "0s" is no retention at all
				return sluice.Errorf(sluice.EINVALID, `payload_retention: must be a positive duration such as "168h"`)
			}
			s.PayloadRetention = d
		}
	}
	if in.PayloadStorage != nil {
		s.PayloadStorage = sluice.PayloadStorage(*in.PayloadStorage) // "" is the tenant's
	}
	in.processingJSON.apply(&s.Processing)
	configured := in.Name != nil || in.Verification != nil || in.EventTypePath != nil || in.EventIDPath != nil ||
		in.SubjectPaths != nil || in.AllowedIPs != nil || in.RateLimitPerSecond != nil || in.PayloadRetention != nil ||
		in.PayloadStorage != nil || in.processingJSON.given()
	if configured {
		if err := s.Validate(); err != nil {
			return err
		}
	}

	oldType, oldIDDefault := inbound.DefaultPaths(s.Verification.Type)
	typeWasDefault := s.EventTypePath == "" || s.EventTypePath == oldType
	idWasDefault := s.EventIDPath == "" || s.EventIDPath == oldIDDefault
	if in.Verification != nil {
		v, err := in.Verification.rule(s.Verification)
		if err != nil {
			return err
		}
		s.Verification = v
	}
	newType, newID := inbound.DefaultPaths(s.Verification.Type)
	if typeWasDefault {
		s.EventTypePath = newType
	}
	if idWasDefault {
		s.EventIDPath = newID
	}
	if in.EventTypePath != nil {
		p, err := pathOrDefault("event_type_path", *in.EventTypePath, newType)
		if err != nil {
			return err
		}
		s.EventTypePath = p
	}
	if in.EventIDPath != nil {
		p, err := pathOrDefault("event_id_path", *in.EventIDPath, newID)
		if err != nil {
			return err
		}
		s.EventIDPath = p
	}
	if in.SubjectPaths != nil {
		if err := checkSubjectPaths(s.SubjectPaths); err != nil {
			return err
		}
	}
	if in.AllowedIPs != nil {
		for i, ip := range *in.AllowedIPs {
			p, err := sluice.ParseCIDR(ip)
			if err != nil {
				return sluice.Errorf(sluice.EINVALID, "allowed_ips: %v", err)
			}
			s.AllowedIPs[i] = p
		}
	}
	if in.Enabled != nil {
		s.Enabled = *in.Enabled
	}
	return nil
}

// pathOrDefault checks a given path; an empty one means the default.
func pathOrDefault(field, given, def string) (string, error) {
	if given == "" {
		return def, nil
	}
	if err := inbound.CheckPath(given); err != nil {
		return "", sluice.Errorf(sluice.EINVALID, "%s: %v", field, err)
	}
	return given, nil
}

// rule turns a given verification into the rule to store. A secret or
// password left out keeps the current one when the type stays the same, so
// a PATCH need not repeat it.
func (v *verificationJSON) rule(current sluice.Verification) (sluice.Verification, error) {
	for _, f := range []string{v.Type, v.Secret, v.Header, v.Algorithm, v.Encoding, v.Prefix, v.Username, v.Password} {
		if len(f) > maxVerificationField {
			return sluice.Verification{}, sluice.Errorf(sluice.EINVALID, "verification: each field at most %d bytes", maxVerificationField)
		}
	}
	rule := sluice.Verification{Type: v.Type, Secret: v.Secret, Header: v.Header, Algorithm: v.Algorithm,
		Encoding: v.Encoding, Prefix: v.Prefix, Username: v.Username, Password: v.Password}
	if rule.Type == current.Type {
		if rule.Secret == "" {
			rule.Secret = current.Secret
		}
		if rule.Password == "" {
			rule.Password = current.Password
		}
	}
	if err := inbound.Check(&rule); err != nil {
		return sluice.Verification{}, err // EINVALID naming the field
	}
	return rule, nil
}

// checkSubjectPaths checks each subject path's syntax and type; their
// number is Source.Validate's. The type is checked as a type: checking it
// with a sample value refused "phone", whose values need a digit.
func checkSubjectPaths(paths []sluice.SubjectPath) error {
	for _, p := range paths {
		if err := inbound.CheckPath(p.Path); err != nil {
			return sluice.Errorf(sluice.EINVALID, "subject_paths: path: %v", err)
		}
		if err := subject.CheckType(p.Type); err != nil {
			return sluice.Errorf(sluice.EINVALID, "subject_paths: each type must be a word such as email or customer_id")
		}
	}
	return nil
}

// createSource serves POST /v1/sources.
func (h *Handler) createSource(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in sourceInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	s, err := newSource(key.TenantID, &in)
	if err != nil {
		return err
	}
	if err := h.store.CreateSource(r.Context(), s); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSourceJSON(s, h.baseURL(r)))
	return nil
}

// newSource is a new, enabled source of tenantID as in gives it, not yet
// stored.
func newSource(tenantID string, in *sourceInput) (*sluice.Source, error) {
	if in.Verification == nil {
		return nil, sluice.Errorf(sluice.EINVALID, `verification: required (e.g. {"type": "stripe", "secret": "whsec_…"})`)
	}
	s := &sluice.Source{ID: sluice.NewID(sluice.PrefixSource), TenantID: tenantID, Enabled: true}
	if err := in.apply(s); err != nil {
		return nil, err
	}
	return s, nil
}

// listSources serves GET /v1/sources.
func (h *Handler) listSources(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	ss, next, err := h.store.Sources(r.Context(), key.TenantID, page)
	if err != nil {
		return err
	}
	base := h.baseURL(r)
	writeJSON(w, http.StatusOK, newList(ss, next, func(s *sluice.Source) sourceJSON { return toSourceJSON(s, base) }))
	return nil
}

// getSource serves GET /v1/sources/{id}.
func (h *Handler) getSource(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	s, err := h.store.Source(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSourceJSON(s, h.baseURL(r)))
	return nil
}

// updateSource serves PATCH /v1/sources/{id}.
func (h *Handler) updateSource(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in sourceInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	s, err := h.store.Source(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := in.apply(s); err != nil {
		return err
	}
	defer h.sources.forget()
	if err := h.store.UpdateSource(r.Context(), s); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSourceJSON(s, h.baseURL(r)))
	return nil
}

// deleteSource serves DELETE /v1/sources/{id}. The source's events stay.
func (h *Handler) deleteSource(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	defer h.sources.forget()
	if err := h.store.DeleteSource(r.Context(), key.TenantID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
