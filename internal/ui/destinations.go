package ui

import (
	"context"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/api"
)

// Destinations: the list, a page per destination with its settings and
// recent deliveries, and forms that create, change and delete them, read
// the signing secret and rotate it, each under the API's rules and with
// its audit entries (POST, PATCH and DELETE /v1/destinations, GET
// …/secret, POST …/rotate-secret).

// sourceStore is what the source and destination pages read and change
// beyond the rest of Store; sluice.Store has it.
type sourceStore interface {
	Source(ctx context.Context, tenantID, id string) (*sluice.Source, error)
	CreateSource(ctx context.Context, s *sluice.Source) error
	UpdateSource(ctx context.Context, s *sluice.Source) error
	DestinationDeliveries(ctx context.Context, tenantID, destinationID string, page sluice.Page) ([]*sluice.Delivery, string, error)
	DeleteDestination(ctx context.Context, tenantID, id string) error
}

// sourceAndDestinationRoutes registers the pages and forms of sources and
// destinations.
func (h *Handler) sourceAndDestinationRoutes() {
	h.page("GET /ui/sources", h.sourcesList)
	h.page("POST /ui/sources", h.createSource)
	h.page("GET /ui/sources/{id}", h.sourcePage)
	h.page("POST /ui/sources/{id}", h.updateSource)
	h.page("GET /ui/destinations", h.destinationsPage)
	h.page("POST /ui/destinations", h.createDestination)
	h.page("GET /ui/destinations/{id}", h.destinationPage)
	h.page("POST /ui/destinations/{id}", h.updateDestination)
	h.page("POST /ui/destinations/{id}/secret", h.revealSecret)
	h.page("POST /ui/destinations/{id}/rotate-secret", h.rotateSecret)
	h.page("POST /ui/destinations/{id}/delete", h.deleteDestination)
}

func init() { titles["destination.html"] = "Destination" }

// destinationFields maps the fields the API's messages name to the form's
// inputs.
var destinationFields = map[string]string{
	"name": "name", "customer": "customer", "url": "url", "event_types": "event_types", "source_ids": "source_ids", "fields": "fields",
	"rate_limit_per_second": "rate_limit_per_second", "delivery": "delivery",
	"fetch_ttl_seconds": "fetch_ttl_seconds", "pseudonymize": "pseudonymize", "purpose": "purpose",
	"lawful_basis": "lawful_basis", "owner": "owner", "region": "region",
	"headers": "headers", "auth": "auth.type", "auth.type": "auth.type", "auth.username": "auth.username",
	"auth.password": "auth.password", "auth.token": "auth.token",
	"client_certificate": "client_certificate.cert_pem",
}

// recentDeliveries is how many of a destination's deliveries its page
// shows.
const recentDeliveries = 25

type destinationsView struct {
	Destinations []*sluice.Destination
	Form         *form // the new destination's
}

// Fields is the new destination's form.
func (v destinationsView) Fields() destinationForm { return destinationForm{Form: v.Form} }

type destinationView struct {
	Destination *sluice.Destination
	Deliveries  []*sluice.Delivery
	Form        *form // the edit form
	Rotate      *form
	// Secret is shown once: on creation, on an audited reveal, after a
	// rotation. SecretWhy says which.
	Secret, SecretWhy string
	Refused           string // why a reveal or rotation was not done
	Choices           choices
}

// Fields is the edit form.
func (v *destinationView) Fields() destinationForm {
	return destinationForm{Form: v.Form, Destination: v.Destination}
}

func (h *Handler) destinationsPage(w http.ResponseWriter, r *http.Request, s *session) {
	h.showDestinations(w, r, s, http.StatusOK, &form{Values: url.Values{}})
}

func (h *Handler) showDestinations(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	dests, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Destination, string, error) {
		return h.cfg.Store.Destinations(r.Context(), s.key.TenantID, p)
	})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.render(w, r, s, status, "destinations.html", destinationsView{Destinations: dests, Form: f})
}

// createDestination creates a destination from the form as POST
// /v1/destinations does, and shows its page with its signing secret, once,
// as the API's answer does. A refusal shows the form again, as it was
// filled in, with the reason beside the field.
func (h *Handler) createDestination(w http.ResponseWriter, r *http.Request, s *session) {
	f := submitted(r)
	d, err := h.newDestination(r, s.key, f)
	if err != nil {
		if !refusable(err) {
			h.fail(w, r, s, err)
			return
		}
		f.refuse(err, destinationFields)
		h.showDestinations(w, r, s, refusedStatus(err), f)
		return
	}
	h.showDestination(w, r, s, http.StatusCreated, d.ID, func(v *destinationView) {
		v.Secret, v.SecretWhy = d.Secret, "created"
	})
}

func (h *Handler) newDestination(r *http.Request, key *sluice.APIKey, f *form) (*sluice.Destination, error) {
	if err := key.RequireAdmin(); err != nil {
		return nil, err
	}
	policy := h.cfg.Policy
	policy.Self = policy.Self.WithHost(h.cfg.Origin.Hosts(r)...)
	body, err := destinationBody(f, nil)
	if err != nil {
		return nil, err
	}
	d, err := api.NewDestination(r.Context(), h.cfg.Store, h.cfg.Resolver, policy, key.TenantID, body)
	if err != nil {
		return nil, err
	}
	return d, h.cfg.Store.CreateDestination(r.Context(), d)
}

func (h *Handler) destinationPage(w http.ResponseWriter, r *http.Request, s *session) {
	h.showDestination(w, r, s, http.StatusOK, r.PathValue("id"), nil)
}

// showDestination shows a destination's page as stored, with its edit
// form filled from it unless change gives another.
func (h *Handler) showDestination(w http.ResponseWriter, r *http.Request, s *session, status int, id string, change func(*destinationView)) {
	ctx, tenant := r.Context(), s.key.TenantID
	d, err := h.cfg.Store.Destination(ctx, tenant, id)
	if err != nil {
		h.notFound(w, r, s, err, "There is no such destination.")
		return
	}
	deliveries, _, err := h.cfg.Store.DestinationDeliveries(ctx, tenant, id, sluice.Page{Limit: recentDeliveries})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v := &destinationView{Destination: d, Deliveries: deliveries, Form: &form{Values: destinationValues(d)},
		Rotate: &form{Values: url.Values{"grace_period": {"24h"}}}}
	if change != nil {
		change(v)
	}
	h.render(w, r, s, status, "destination.html", v)
}

// updateDestination changes a destination from the form as PATCH
// /v1/destinations/{id} does, every field of the form given.
func (h *Handler) updateDestination(w http.ResponseWriter, r *http.Request, s *session) {
	f := submitted(r)
	ctx, id := r.Context(), r.PathValue("id")
	d, err := h.cfg.Store.Destination(ctx, s.key.TenantID, id)
	if err != nil {
		h.notFound(w, r, s, err, "There is no such destination.")
		return
	}
	if err := h.changeDestination(r, s.key, d, f); err != nil {
		if !refusable(err) {
			h.fail(w, r, s, err)
			return
		}
		f.refuse(err, destinationFields)
		h.showDestination(w, r, s, refusedStatus(err), id, func(v *destinationView) {
			v.Form, v.Refused, f.Other = f, f.Other, ""
		})
		return
	}
	back(w, r, "/ui/destinations/"+id, "Saved destination "+id+".")
}

// changeDestination applies the form to d and stores it, as PATCH
// /v1/destinations/{id} does for key.
func (h *Handler) changeDestination(r *http.Request, key *sluice.APIKey, d *sluice.Destination, f *form) error {
	if err := key.RequireAdmin(); err != nil {
		return err
	}
	body, err := destinationBody(f, d)
	if err != nil {
		return err
	}
	policy := h.cfg.Policy
	policy.Self = policy.Self.WithHost(h.cfg.Origin.Hosts(r)...)
	if err := api.ChangeDestination(r.Context(), h.cfg.Store, h.cfg.Resolver, policy, d, body); err != nil {
		return err
	}
	return h.cfg.Store.UpdateDestination(r.Context(), d)
}

// deleteDestination deletes a destination, as DELETE /v1/destinations/{id}
// does (the store audits it as destination.delete), after a confirmation
// step, and goes back to the list. A viewer or an unknown destination is
// refused at once.
func (h *Handler) deleteDestination(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, id := r.Context(), r.PathValue("id")
	if err := s.key.RequireAdmin(); err != nil {
		h.notDone(w, r, "/ui/destinations/"+id, "Not deleted", err)
		return
	}
	d, err := h.cfg.Store.Destination(ctx, s.key.TenantID, id)
	if err != nil {
		h.notDone(w, r, "/ui/destinations", "Not deleted", err)
		return
	}
	if !confirmed(r) {
		h.confirm(w, r, s, confirmView{
			Heading: "Delete " + d.Name + "?",
			Effects: []string{
				"The destination " + d.Name + " (" + d.ID + ") is deleted, with its signing secret, headers, auth and client certificate. This cannot be undone.",
				"Its pending and retrying deliveries are cancelled; nothing more is sent to it. Events and their delivery history stay.",
				"The deletion is in the audit log.",
			},
			Action: "/ui/destinations/" + id + "/delete",
			Button: "Delete destination", Cancel: "/ui/destinations/" + id,
		})
		return
	}
	if err := h.cfg.Store.DeleteDestination(ctx, s.key.TenantID, id); err != nil {
		h.notDone(w, r, "/ui/destinations", "Not deleted", err)
		return
	}
	back(w, r, "/ui/destinations", "Deleted destination "+d.Name+" ("+id+").")
}

// revealSecret shows a destination's signing secret to an admin, audited
// as GET /v1/destinations/{id}/secret audits it.
func (h *Handler) revealSecret(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	secret, err := api.ReadSecret(r.Context(), h.cfg.Store, s.key, id)
	if err != nil {
		h.refused(w, r, s, err, id, func(v *destinationView) { v.Refused = "Not shown: " + sluice.ErrorMessage(err) })
		return
	}
	h.showDestination(w, r, s, http.StatusOK, id, func(v *destinationView) { v.Secret, v.SecretWhy = secret, "revealed" })
}

// rotateSecret gives a destination a new signing secret as POST
// /v1/destinations/{id}/rotate-secret does, the old one signing beside it
// for the grace period the form gives, and shows the new one.
func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, id := r.Context(), r.PathValue("id")
	f := submitted(r)
	grace := f.Values.Get("grace_period")
	d, err := h.cfg.Store.Destination(ctx, s.key.TenantID, id)
	if err == nil {
		if err = s.key.RequireAdmin(); err == nil {
			// Storing the new secret audits it as destination.secret_rotate.
			if err = api.RotateSecret(d, &grace, h.cfg.Now()); err == nil {
				err = h.cfg.Store.UpdateDestination(ctx, d)
			}
		}
	}
	if err != nil {
		h.refused(w, r, s, err, id, func(v *destinationView) {
			f.refuse(err, map[string]string{"grace_period": "grace_period"})
			if f.Other != "" {
				v.Refused, f.Other = "Not rotated: "+f.Other, ""
			}
			v.Rotate = f
		})
		return
	}
	h.showDestination(w, r, s, http.StatusOK, id, func(v *destinationView) { v.Secret, v.SecretWhy = d.Secret, "rotated" })
}

// refused shows a destination's page with a refusal, or the failure.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, s *session, err error, id string, change func(*destinationView)) {
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		h.notFound(w, r, s, err, "There is no such destination.")
	case !refusable(err):
		h.fail(w, r, s, err)
	default:
		h.showDestination(w, r, s, refusedStatus(err), id, change)
	}
}
