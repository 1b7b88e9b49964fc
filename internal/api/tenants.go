package api

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
)

// tenantJSON is a tenant as GET and PATCH /v1/tenants/{id} show it: its
// overrides of the server's retention (null where it keeps the server's)
// and the retention in effect.
type tenantJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	retentionJSON
	Effective retentionJSON `json:"effective"`
	// RestrictedData is what the tenant counts as personal data, which
	// only destinations with personal_data allowed receive.
	RestrictedData restrictedJSON `json:"restricted_data"`
	CreatedAt      time.Time      `json:"created_at"`
}

// retentionJSON is a retention as the API shows and takes it: durations in
// Go's syntax ("72h"); null (or "", given) for the server's.
type retentionJSON struct {
	PayloadStorage       *string `json:"payload_storage"`
	UndeliveredRetention *string `json:"undelivered_retention"`
	PayloadRetention     *string `json:"payload_retention"`
	MetadataRetention    *string `json:"metadata_retention"`
	AuditRetention       *string `json:"audit_retention"`
}

func toRetentionJSON(r sluice.Retention) retentionJSON {
	text := func(d time.Duration) *string {
		if d == 0 {
			return nil
		}
		s := d.String()
		return &s
	}
	out := retentionJSON{UndeliveredRetention: text(r.Undelivered), PayloadRetention: text(r.Delivered),
		MetadataRetention: text(r.Metadata), AuditRetention: text(r.Audit)}
	if r.PayloadStorage != "" {
		s := string(r.PayloadStorage)
		out.PayloadStorage = &s
	}
	return out
}

// apply sets on r the fields given: "" clears an override.
func (in *retentionJSON) apply(r *sluice.Retention) error {
	if in.PayloadStorage != nil {
		r.PayloadStorage = sluice.PayloadStorage(*in.PayloadStorage)
	}
	for _, f := range []struct {
		name string
		in   *string
		out  *time.Duration
	}{
		{"undelivered_retention", in.UndeliveredRetention, &r.Undelivered},
		{"payload_retention", in.PayloadRetention, &r.Delivered},
		{"metadata_retention", in.MetadataRetention, &r.Metadata},
		{"audit_retention", in.AuditRetention, &r.Audit},
	} {
		if f.in == nil {
			continue
		}
		*f.out = 0
		if *f.in == "" {
			continue
		}
		d, err := time.ParseDuration(*f.in)
		if err != nil || d <= 0 {
			return sluice.Errorf(sluice.EINVALID, `%s: must be a positive duration such as "168h", or "" for the server's`, f.name)
		}
		*f.out = d
	}
	return r.Validate()
}

// tenantOf returns the tenant of the path's id that key may manage: any
// tenant for the operator, its own for another key; another tenant is
// ENOTFOUND, as every other tenant's resource is.
func (h *Handler) tenantOf(r *http.Request, key *sluice.APIKey) (*sluice.Tenant, error) {
	id := r.PathValue("id")
	if !key.Operator && id != key.TenantID {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "tenant not found")
	}
	return h.store.Tenant(r.Context(), id)
}

func (h *Handler) toTenantJSON(t *sluice.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, retentionJSON: toRetentionJSON(t.Retention),
		Effective: toRetentionJSON(t.Retention.Or(h.cfg.Retention)), RestrictedData: toRestrictedJSON(t.Restricted),
		CreatedAt: t.CreatedAt}
}

// getTenant serves GET /v1/tenants/{id}.
func (h *Handler) getTenant(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	t, err := h.tenantOf(r, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.toTenantJSON(t))
	return nil
}

// updateTenant serves PATCH /v1/tenants/{id}: its name and retention.
func (h *Handler) updateTenant(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in struct {
		Name *string `json:"name"`
		retentionJSON
		RestrictedData *restrictedJSON `json:"restricted_data"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	t, err := h.tenantOf(r, key)
	if err != nil {
		return err
	}
	if in.Name != nil {
		if err := checkName("name", *in.Name, true); err != nil {
			return err
		}
		t.Name = *in.Name
	}
	if err := in.retentionJSON.apply(&t.Retention); err != nil {
		return err
	}
	if in.RestrictedData != nil {
		t.Restricted = sluice.RestrictedData{Paths: in.RestrictedData.Paths, SubjectTypes: in.RestrictedData.SubjectTypes}
		if err := t.Restricted.Validate(); err != nil {
			return err
		}
	}
	if err := h.store.UpdateTenant(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.toTenantJSON(t))
	return nil
}
