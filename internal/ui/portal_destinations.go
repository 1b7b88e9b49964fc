package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/api"
)

// The portal's endpoints: the customer's destinations, created and changed
// under the API's rules from a name, a URL and event types only; every
// other setting of a destination (fields, personal data, pseudonymizing,
// delivery mode, headers, credentials, sources) stays the tenant's to set
// through the API, and the portal never shows it.

// noSuchEndpoint is the one refusal of a destination out of scope, whatever
// the reason: another customer's, another tenant's, a listen destination,
// or none at all look alike.
const noSuchEndpoint = "There is no such endpoint."

// destination returns the session's customer's destination id, the one way
// the portal finds a destination: ENOTFOUND, alike, unless it is of the
// session's tenant and customer and no listen destination.
func (p *Portal) destination(ctx context.Context, s *portalSession, id string) (*sluice.Destination, error) {
	d, err := p.cfg.Store.Destination(ctx, s.TenantID, id)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND || (err == nil && !inScope(d, s.PortalSession)) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no such endpoint")
	}
	return d, err
}

// inScope reports whether the portal session may see d.
func inScope(d *sluice.Destination, ps *sluice.PortalSession) bool {
	return ps.Scope.Customer != "" && d.TenantID == ps.TenantID && d.Customer == ps.Scope.Customer && !d.Listening()
}

// portalDestinationFields maps the fields the API's messages name to the
// portal form's inputs; a message naming any other is shown above the form.
var portalDestinationFields = map[string]string{"name": "name", "url": "url", "event_types": "event_types"}

type portalDestinationsView struct {
	Destinations []*sluice.Destination
	Form         *form // the new endpoint's
}

// portalDestinationView is an endpoint's page.
type portalDestinationView struct {
	Destination *sluice.Destination
	Deliveries  []portalDelivery
	Form        *form // the edit form
	Rotate      *form
	// Secret is shown once: on creation, on an audited reveal, after a
	// rotation. SecretWhy says which.
	Secret, SecretWhy string
	Refused           string // why an action was not done
}

// portalDelivery is a delivery with its latest attempt, if any.
type portalDelivery struct {
	*sluice.Delivery
	Last *sluice.Attempt
}

func (p *Portal) destinationsPage(w http.ResponseWriter, r *http.Request, s *portalSession) {
	p.showDestinations(w, r, s, http.StatusOK, &form{Values: url.Values{}})
}

func (p *Portal) showDestinations(w http.ResponseWriter, r *http.Request, s *portalSession, status int, f *form) {
	all, err := sluice.ListAll(func(pg sluice.Page) ([]*sluice.Destination, string, error) {
		return p.cfg.Store.CustomerDestinations(r.Context(), s.TenantID, s.Scope.Customer, pg)
	})
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	dests := make([]*sluice.Destination, 0, len(all))
	for _, d := range all {
		if inScope(d, s.PortalSession) {
			dests = append(dests, d)
		}
	}
	p.render(w, r, s, status, "portal_destinations.html", portalDestinationsView{Destinations: dests, Form: f})
}

// createDestination creates one of the customer's destinations as POST
// /v1/destinations does from the form's name, URL and event types, and
// shows its page with its signing secret, once.
func (p *Portal) createDestination(w http.ResponseWriter, r *http.Request, s *portalSession) {
	f := submitted(r)
	policy := p.cfg.Policy
	policy.Self = policy.Self.WithHost(p.cfg.Origin.Hosts(r)...)
	d, err := api.NewDestination(r.Context(), p.cfg.Store, p.cfg.Resolver, policy, s.TenantID, portalDestinationBody(f, s.Scope.Customer))
	if err == nil {
		d.Customer = s.Scope.Customer
		err = p.cfg.Store.CreateDestination(r.Context(), d)
	}
	if err != nil {
		if !refusable(err) {
			p.fail(w, r, s, err)
			return
		}
		f.refuse(err, portalDestinationFields)
		p.showDestinations(w, r, s, refusedStatus(err), f)
		return
	}
	p.showDestination(w, r, s, http.StatusCreated, d, func(v *portalDestinationView) {
		v.Secret, v.SecretWhy = d.Secret, "created"
	})
}

func (p *Portal) destinationPage(w http.ResponseWriter, r *http.Request, s *portalSession, d *sluice.Destination) {
	p.showDestination(w, r, s, http.StatusOK, d, nil)
}

// endpointFunc serves a page of one of the session's customer's
// destinations, d.
type endpointFunc func(w http.ResponseWriter, r *http.Request, s *portalSession, d *sluice.Destination)

// endpoint registers fn, behind the session and CSRF checks, for the
// destination the path's {id} names: found through destination, so in
// the session's scope, or the one page of a destination out of it.
func (p *Portal) endpoint(pattern string, fn endpointFunc) {
	p.page(pattern, func(w http.ResponseWriter, r *http.Request, s *portalSession) {
		d, err := p.destination(r.Context(), s, r.PathValue("id"))
		if err != nil {
			p.notFound(w, r, s, err)
			return
		}
		fn(w, r, s, d)
	})
}

// refused shows the endpoint's page, as stored, after a change of it was
// refused: the form f as typed, set on the page by show, with err beside
// its field (of fields) or above it.
func (p *Portal) refused(w http.ResponseWriter, r *http.Request, s *portalSession, id string, err error, f *form,
	fields map[string]string, show func(*portalDestinationView)) {
	if !refusable(err) {
		p.fail(w, r, s, err)
		return
	}
	stored, lookup := p.destination(r.Context(), s, id)
	if lookup != nil {
		p.notFound(w, r, s, lookup)
		return
	}
	f.refuse(err, fields)
	p.showDestination(w, r, s, refusedStatus(err), stored, func(v *portalDestinationView) {
		show(v)
		v.Refused, f.Other = f.Other, ""
	})
}

// notFound shows the one page of a destination out of scope, or the
// failure.
func (p *Portal) notFound(w http.ResponseWriter, r *http.Request, s *portalSession, err error) {
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		p.render(w, r, s, http.StatusNotFound, "portal_error.html", errorView{Message: noSuchEndpoint})
		return
	}
	p.fail(w, r, s, err)
}

// showDestination shows d's page, its edit form filled from it unless
// change gives another.
func (p *Portal) showDestination(w http.ResponseWriter, r *http.Request, s *portalSession, status int, d *sluice.Destination, change func(*portalDestinationView)) {
	ctx := r.Context()
	deliveries, _, err := p.cfg.Store.DestinationDeliveries(ctx, s.TenantID, d.ID, sluice.Page{Limit: recentDeliveries})
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := &portalDestinationView{Destination: d, Form: &form{Values: url.Values{"name": {d.Name}, "url": {d.URL},
		"event_types": {strings.Join(d.EventTypes, ", ")}}}, Rotate: &form{Values: url.Values{"grace_period": {"24h"}}}}
	for _, dl := range deliveries {
		attempts, err := p.cfg.Store.Attempts(ctx, s.TenantID, dl.EventID)
		if err != nil {
			p.fail(w, r, s, err)
			return
		}
		pd := portalDelivery{Delivery: dl}
		for _, a := range attempts {
			if a.DeliveryID == dl.ID && a.DestinationID == d.ID {
				pd.Last = a
			}
		}
		v.Deliveries = append(v.Deliveries, pd)
	}
	if change != nil {
		change(v)
	}
	p.render(w, r, s, status, "portal_destination.html", v)
}

// updateDestination changes an endpoint's name, URL and event types as
// PATCH /v1/destinations/{id} does.
func (p *Portal) updateDestination(w http.ResponseWriter, r *http.Request, s *portalSession, d *sluice.Destination) {
	ctx := r.Context()
	f := submitted(r)
	policy := p.cfg.Policy
	policy.Self = policy.Self.WithHost(p.cfg.Origin.Hosts(r)...)
	err := api.ChangeDestination(ctx, p.cfg.Store, p.cfg.Resolver, policy, d, portalDestinationBody(f, ""))
	if err == nil {
		err = p.cfg.Store.UpdateDestination(ctx, d)
	}
	if err != nil {
		p.refused(w, r, s, d.ID, err, f, portalDestinationFields, func(v *portalDestinationView) { v.Form = f })
		return
	}
	back(w, r, "/portal/destinations/"+d.ID, "Saved.")
}

// switchDestination enables or disables an endpoint, as PATCH
// /v1/destinations/{id} with "enabled" does. Disabling fails nothing:
// deliveries wait until it is enabled again.
func (p *Portal) switchDestination(w http.ResponseWriter, r *http.Request, s *portalSession, d *sluice.Destination) {
	ctx := r.Context()
	enable, wasEnabled := r.PostFormValue("enabled") == "true", d.Enabled
	d.SetEnabled(enable)
	if err := p.cfg.Store.UpdateDestination(ctx, d); err != nil {
		p.notFound(w, r, s, err)
		return
	}
	if d.Enabled && !wasEnabled {
		p.cfg.Wake()
	}
	msg := "Disabled: nothing is sent until you enable it again; deliveries wait."
	if enable {
		msg = "Enabled."
	}
	back(w, r, "/portal/destinations/"+d.ID, msg)
}

// rotateSecret gives an endpoint a new signing secret as POST
// /v1/destinations/{id}/rotate-secret does, the old one signing beside it
// for the grace period given, and shows the new one once.
func (p *Portal) rotateSecret(w http.ResponseWriter, r *http.Request, s *portalSession, d *sluice.Destination) {
	ctx := r.Context()
	f := submitted(r)
	grace := f.Values.Get("grace_period")
	// Storing the new secret audits it as destination.secret_rotate.
	err := api.RotateSecret(d, &grace, p.cfg.Now())
	if err == nil {
		err = p.cfg.Store.UpdateDestination(ctx, d)
	}
	if err != nil {
		p.refused(w, r, s, d.ID, err, f, map[string]string{"grace_period": "grace_period"},
			func(v *portalDestinationView) { v.Rotate = f })
		return
	}
	p.showDestination(w, r, s, http.StatusOK, d, func(v *portalDestinationView) { v.Secret, v.SecretWhy = d.Secret, "rotated" })
}

// revealSecret shows an endpoint's signing secret, audited as
// destination.secret_read under the portal session.
func (p *Portal) revealSecret(w http.ResponseWriter, r *http.Request, s *portalSession, d *sluice.Destination) {
	ctx := r.Context()
	secret, err := api.RevealSecret(ctx, p.cfg.Store, sluice.ActorFrom(ctx), d)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.showDestination(w, r, s, http.StatusOK, d, func(v *portalDestinationView) { v.Secret, v.SecretWhy = secret, "revealed" })
}

// sendTest sends a test event to the endpoint alone, audited by the store
// as destination.test, and wakes the dispatcher.
func (p *Portal) sendTest(w http.ResponseWriter, r *http.Request, s *portalSession, d *sluice.Destination) {
	ctx := r.Context()
	ev, err := p.cfg.Store.SendTestEvent(ctx, s.TenantID, d.ID, p.cfg.FirstDelay)
	if err != nil {
		if !refusable(err) {
			p.fail(w, r, s, err)
			return
		}
		back(w, r, "/portal/destinations/"+d.ID, "Not sent: "+dashboardWording(sluice.ErrorMessage(err)))
		return
	}
	p.cfg.Wake()
	back(w, r, "/portal/destinations/"+d.ID, "Test event "+ev.ID+" sent: its delivery is below.")
}

// portalDestinationBody is the form as the body of POST /v1/destinations
// for the customer's new destination, or, customer "", of PATCH: its name,
// URL and event types, nothing else of the form. Event types are separated
// by commas or spaces; none means every type.
func portalDestinationBody(f *form, customer string) []byte {
	create := customer != ""
	body := map[string]any{"name": f.Values.Get("name"), "url": strings.TrimSpace(f.Values.Get("url"))}
	if create {
		body["customer"] = customer
	}
	types := strings.FieldsFunc(f.Values.Get("event_types"), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	switch {
	case len(types) > 0:
		body["event_types"] = types
	case !create:
		body["event_types"] = []string{"*"}
	}
	out, _ := json.Marshal(body) // strings and lists
	return out
}
