package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/api"
)

// Sources: the list with each source's ingest URL, a page per source, and
// forms that create and change them under the API's rules (POST and PATCH
// /v1/sources). Secrets and passwords are write-only: a form never shows
// them, and one left empty keeps the stored one.

// sourceFields maps the fields the API's messages name to the form's
// inputs.
var sourceFields = map[string]string{
	"name": "name", "verification": "verification.type", "event_type_path": "event_type_path",
	"event_id_path": "event_id_path", "subject_paths": "subject_paths", "allowed_ips": "allowed_ips",
	"rate_limit_per_second": "rate_limit_per_second", "payload_retention": "payload_retention",
	"payload_storage": "payload_storage", "purpose": "purpose", "lawful_basis": "lawful_basis",
	"owner": "owner", "region": "region",
}

func init() {
	for _, f := range []string{"type", "secret", "header", "algorithm", "encoding", "prefix", "username", "password"} {
		sourceFields["verification."+f] = "verification." + f
	}
	titles["source.html"] = "Source"
}

type sourcesView struct {
	Sources []*sluice.Source
	Base    string // the gateway's base URL, for ingest URLs
	Form    *form  // the new source's
	Choices choices
	Editing bool // false: secrets are asked for, not kept
}

type sourceView struct {
	Source  *sluice.Source
	Ingest  string
	Form    *form
	Choices choices
	Editing bool // true: secrets left empty are kept
}

// choices are the options of the forms' selects.
type choices struct{}

// Verifications are the verification types.
func (choices) Verifications() []string {
	return []string{sluice.VerifyStripe, sluice.VerifyGitHub, sluice.VerifyShopify, sluice.VerifyStandardWebhooks,
		sluice.VerifyHMAC, sluice.VerifyToken, sluice.VerifyBasic, sluice.VerifyNone}
}

// LawfulBases are the lawful bases of processing.
func (choices) LawfulBases() []string { return sluice.LawfulBases }

// Storages are the payload storage modes.
func (choices) Storages() []string {
	return []string{string(sluice.StorageRetain), string(sluice.StorageUntilDelivered), string(sluice.StorageNone)}
}

func (h *Handler) sourcesList(w http.ResponseWriter, r *http.Request, s *session) {
	h.showSources(w, r, s, http.StatusOK, &form{Values: url.Values{"verification.type": {sluice.VerifyStripe}}})
}

func (h *Handler) showSources(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	srcs, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Source, string, error) {
		return h.cfg.Store.Sources(r.Context(), s.key.TenantID, p)
	})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.render(w, r, s, status, "sources.html", sourcesView{Sources: srcs, Base: h.cfg.Origin.Base(r), Form: f})
}

// createSource creates a source from the form as POST /v1/sources does.
// A refusal shows the form again, as it was filled in, with the reason
// beside the field.
func (h *Handler) createSource(w http.ResponseWriter, r *http.Request, s *session) {
	f := submitted(r)
	src, err := h.newSource(r, s.key, f)
	if err != nil {
		if !refusable(err) {
			h.fail(w, r, s, err)
			return
		}
		f.refuse(err, sourceFields)
		h.showSources(w, r, s, refusedStatus(err), f)
		return
	}
	back(w, r, "/ui/sources/"+src.ID, "Created source "+src.ID+".")
}

func (h *Handler) newSource(r *http.Request, key *sluice.APIKey, f *form) (*sluice.Source, error) {
	if err := key.RequireAdmin(); err != nil {
		return nil, err
	}
	src, err := api.NewSource(key.TenantID, sourceBody(f))
	if err != nil {
		return nil, err
	}
	return src, h.cfg.Store.CreateSource(r.Context(), src)
}

func (h *Handler) sourcePage(w http.ResponseWriter, r *http.Request, s *session) {
	src, err := h.cfg.Store.Source(r.Context(), s.key.TenantID, r.PathValue("id"))
	if err != nil {
		h.notFound(w, r, s, err, "There is no such source.")
		return
	}
	h.render(w, r, s, http.StatusOK, "source.html", sourceView{Source: src, Ingest: h.cfg.Origin.Base(r) + "/in/" + src.ID,
		Form: &form{Values: sourceValues(src)}, Editing: true})
}

// updateSource changes a source from the form as PATCH /v1/sources/{id}
// does, every field of the form given.
func (h *Handler) updateSource(w http.ResponseWriter, r *http.Request, s *session) {
	f := submitted(r)
	src, err := h.cfg.Store.Source(r.Context(), s.key.TenantID, r.PathValue("id"))
	if err != nil {
		h.notFound(w, r, s, err, "There is no such source.")
		return
	}
	if err = s.key.RequireAdmin(); err == nil {
		if err = api.ChangeSource(src, sourceBody(f)); err == nil {
			err = h.cfg.Store.UpdateSource(r.Context(), src)
		}
	}
	if err != nil {
		if !refusable(err) {
			h.fail(w, r, s, err)
			return
		}
		f.refuse(err, sourceFields)
		shown, rerr := h.cfg.Store.Source(r.Context(), s.key.TenantID, src.ID) // as stored, not as refused
		if rerr != nil {
			h.fail(w, r, s, rerr)
			return
		}
		h.render(w, r, s, refusedStatus(err), "source.html", sourceView{Source: shown,
			Ingest: h.cfg.Origin.Base(r) + "/in/" + src.ID, Form: f, Editing: true})
		return
	}
	back(w, r, "/ui/sources/"+src.ID, "Saved source "+src.ID+".")
}

// notFound shows a missing resource's page, or the store's failure.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, s *session, err error, msg string) {
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		h.render(w, r, s, http.StatusNotFound, "error.html", errorView{Message: msg})
		return
	}
	h.fail(w, r, s, err)
}

// submitted is the request's form. Secret fields are never shown back.
func submitted(r *http.Request) *form {
	_ = r.ParseForm() // a form that does not parse reads as empty
	f := &form{Values: url.Values{}, Errors: map[string]string{}, secrets: map[string]string{}}
	for k, vs := range r.PostForm {
		switch k {
		case "csrf":
		case "verification.secret", "verification.password", "auth.password", "auth.token",
			"client_certificate.cert_pem", "client_certificate.key_pem":
			f.secrets[k] = r.PostForm.Get(k)
		default:
			f.Values[k] = vs
		}
	}
	return f
}

// sourceBody is the form as the body of POST or PATCH /v1/sources.
func sourceBody(f *form) []byte {
	get := func(k string) string { return strings.TrimSpace(f.Values.Get(k)) }
	verification := map[string]string{}
	for _, k := range []string{"type", "header", "algorithm", "encoding", "prefix", "username"} {
		if v := get("verification." + k); v != "" {
			verification[k] = v
		}
	}
	for _, k := range []string{"secret", "password"} { // write-only: not in f.Values
		if v := f.secrets["verification."+k]; v != "" {
			verification[k] = v
		}
	}
	subjects := []map[string]string{}
	for _, line := range strings.Split(f.Values.Get("subject_paths"), "\n") {
		parts := strings.Fields(line)
		switch len(parts) {
		case 0:
			continue
		case 1:
			parts = append(parts, "")
		}
		subjects = append(subjects, map[string]string{"path": parts[0], "type": strings.Join(parts[1:], " ")})
	}
	body := map[string]any{
		"name": f.Values.Get("name"), "verification": verification,
		"event_type_path": get("event_type_path"), "event_id_path": get("event_id_path"),
		"subject_paths": subjects, "allowed_ips": list(f.Values.Get("allowed_ips")),
		"rate_limit_per_second": number(f.Values.Get("rate_limit_per_second")),
		"payload_retention":     get("payload_retention"), "payload_storage": get("payload_storage"),
		"purpose": get("purpose"), "lawful_basis": get("lawful_basis"), "owner": get("owner"), "region": get("region"),
	}
	if body["rate_limit_per_second"] == nil {
		body["rate_limit_per_second"] = 0
	}
	out, _ := json.Marshal(body) // strings, lists and numbers
	return out
}

// sourceValues is a stored source as its form starts: never its secret
// or password.
func sourceValues(s *sluice.Source) url.Values {
	v := s.Verification
	subjects := make([]string, len(s.SubjectPaths))
	for i, p := range s.SubjectPaths {
		subjects[i] = p.Path + " " + p.Type
	}
	ips := make([]string, len(s.AllowedIPs))
	for i, p := range s.AllowedIPs {
		ips[i] = p.String()
	}
	out := url.Values{
		"name": {s.Name}, "verification.type": {v.Type}, "verification.header": {v.Header},
		"verification.algorithm": {v.Algorithm}, "verification.encoding": {v.Encoding},
		"verification.prefix": {v.Prefix}, "verification.username": {v.Username},
		"event_type_path": {s.EventTypePath}, "event_id_path": {s.EventIDPath},
		"subject_paths": {strings.Join(subjects, "\n")}, "allowed_ips": {strings.Join(ips, ", ")},
		"payload_storage": {string(s.PayloadStorage)}, "purpose": {s.Processing.Purpose},
		"lawful_basis": {s.Processing.LawfulBasis}, "owner": {s.Processing.Owner}, "region": {s.Processing.Region},
	}
	if s.RateLimitPerSecond > 0 {
		out.Set("rate_limit_per_second", strconv.Itoa(s.RateLimitPerSecond))
	}
	if s.PayloadRetention > 0 {
		out.Set("payload_retention", s.PayloadRetention.String())
	}
	return out
}
