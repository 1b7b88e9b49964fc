package ui

import (
	"context"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/api"
)

// The portal at /portal/ is where one of a tenant's customers, signed in
// from a one-time link an admin key made (POST /v1/portal-sessions), sees
// and manages that customer's destinations and their deliveries, and
// nothing else of the tenant. It is a security boundary of its own: it
// shares the dashboard's templates' parts, headers and form helpers, but
// none of its routes or cookies. Every destination it touches is found
// through Portal.destination, in the session's scope.

// PortalStore is what the portal reads and changes, for the session's
// tenant and customer; sluice.Store implements it. Each method is
// sluice.Store's.
type PortalStore interface {
	sluice.PortalStore
	api.RuleStore
	api.AuditRecorder
	Tenant(ctx context.Context, id string) (*sluice.Tenant, error)
	Destination(ctx context.Context, tenantID, id string) (*sluice.Destination, error)
	CustomerDestinations(ctx context.Context, tenantID, customer string, page sluice.Page) ([]*sluice.Destination, string, error)
	CreateDestination(ctx context.Context, d *sluice.Destination) error
	UpdateDestination(ctx context.Context, d *sluice.Destination) error
	DestinationDeliveries(ctx context.Context, tenantID, destinationID string, page sluice.Page) ([]*sluice.Delivery, string, error)
	SendTestEvent(ctx context.Context, tenantID, destinationID string, firstDelay time.Duration) (*sluice.Event, error)
	Event(ctx context.Context, tenantID, id string) (*sluice.Event, error)
	Deliveries(ctx context.Context, tenantID, eventID string) ([]*sluice.Delivery, error)
	Attempts(ctx context.Context, tenantID, eventID string) ([]*sluice.Attempt, error)
	Payload(ctx context.Context, tenantID, eventID string) (*sluice.Payload, error)
}

// PortalConfig configures the portal. Give it the dashboard's settings.
type PortalConfig struct {
	// Store is read and changed, in the session's scope. Required.
	Store PortalStore
	Settings
}

// Portal serves the customers' portal.
type Portal struct {
	cfg   PortalConfig
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// portalCookie holds a portal session's random id; the store keeps the
// session under its hash. It is another name, on another path, than the
// dashboard's: neither ever authenticates the other.
const portalCookie = "sluice_portal"

// NewPortal returns the portal. It panics if Store is nil, a programming
// error.
func NewPortal(cfg PortalConfig) *Portal {
	if cfg.Store == nil {
		panic("ui: PortalConfig.Store is required")
	}
	cfg.Settings = cfg.Settings.withDefaults()
	p := &Portal{cfg: cfg, mux: http.NewServeMux(), pages: parsePortalPages()}
	static, _ := fs.Sub(staticFS, "static") // the embedded folder exists
	p.mux.Handle("GET /portal/static/", http.StripPrefix("/portal/static/", http.FileServerFS(static)))
	p.mux.HandleFunc("GET /portal/start/{token}", p.signIn)
	p.mux.HandleFunc("/portal/", p.noSuchPage)
	p.page("POST /portal/logout", p.signOut)
	p.page("GET /portal/{$}", p.destinationsPage)
	p.page("POST /portal/destinations", p.createDestination)
	p.endpoint("GET /portal/destinations/{id}", p.destinationPage)
	p.endpoint("POST /portal/destinations/{id}", p.updateDestination)
	p.endpoint("POST /portal/destinations/{id}/enabled", p.switchDestination)
	p.endpoint("POST /portal/destinations/{id}/rotate-secret", p.rotateSecret)
	p.endpoint("POST /portal/destinations/{id}/secret", p.revealSecret)
	p.endpoint("POST /portal/destinations/{id}/test", p.sendTest)
	p.page("GET /portal/destinations/{id}/events/{event_id}", p.deliveryPage)
	p.page("POST /portal/destinations/{id}/events/{event_id}/payload", p.revealPayload)
	return p
}

func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// No page sends its address on: the sign-in link's carries a token.
	setPageHeaders(w, "no-referrer")
	p.mux.ServeHTTP(w, r)
}

// portalSession is a signed-in portal, as one request sees it.
type portalSession struct {
	idHash []byte
	*sluice.PortalSession
}

// portalFunc serves a page for a signed-in portal session.
type portalFunc func(w http.ResponseWriter, r *http.Request, s *portalSession)

// page registers fn behind the session check and, for a POST, the CSRF
// check. The session is read from the store on every request: one expired,
// revoked or signed out shows the signed-out page, never the dashboard's
// sign-in. The request's context carries the portal session as the Actor
// of every change it makes.
func (p *Portal) page(pattern string, fn portalFunc) {
	p.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s, err := p.sessionOf(r)
		switch {
		case sluice.ErrorCode(err) == sluice.ENOTFOUND:
			if _, err := r.Cookie(portalCookie); err == nil {
				p.setCookie(w, r, "", -1)
			}
			p.render(w, r, nil, http.StatusUnauthorized, "portal_signedout.html", errorView{
				Message: "You are signed out: this session has ended. Open the portal again from the application that sent you here."})
			return
		case err != nil:
			p.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), s.CSRF) {
			p.render(w, r, s, http.StatusForbidden, "portal_error.html", errorView{Message: "This form has expired. Go back, reload the page and try again."})
			return
		}
		ctx := sluice.WithActor(r.Context(), sluice.Actor{TenantID: s.TenantID, KeyID: s.ID})
		ctx = context.WithValue(ctx, flashKey{}, func(ctx context.Context, message string) {
			if err := p.cfg.Store.SetPortalFlash(ctx, s.idHash, message); err != nil {
				p.cfg.Logger.ErrorContext(ctx, "portal: keep flash message", slog.String("portal_session_id", s.ID),
					slog.Any("error", err))
			}
		})
		fn(w, r.WithContext(ctx), s)
	})
}

// sessionOf reads the request's portal session from the store: ENOTFOUND
// when the browser has none, or it has ended.
func (p *Portal) sessionOf(r *http.Request) (*portalSession, error) {
	c, err := r.Cookie(portalCookie)
	if err != nil || c.Value == "" {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no portal session")
	}
	idHash := sluice.HashSessionID(c.Value)
	ps, err := p.cfg.Store.PortalSession(r.Context(), idHash)
	if err != nil {
		return nil, err
	}
	// The store ends sessions on its clock; this one is the portal's, and
	// a session must end on both.
	if ps.Scope.Customer == "" || !ps.ExpiresAt.After(p.cfg.Now()) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no portal session")
	}
	return &portalSession{idHash: idHash, PortalSession: ps}, nil
}

// signIn uses a sign-in link: a link unknown, used or expired shows one
// page for all three. Neither the token nor the path is logged.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// A link checker or preview asking about the link does not use it
		// up: only a browser's GET does.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		return
	}
	id, csrf := randomToken(), randomToken()
	ps, err := p.cfg.Store.SignInPortal(r.Context(), sluice.HashToken(r.PathValue("token")), sluice.HashSessionID(id), csrf)
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		p.render(w, r, nil, http.StatusNotFound, "portal_signedout.html", errorView{
			Message: "This sign-in link has expired or was used already. Ask for a new one."})
		return
	case err != nil:
		p.fail(w, r, nil, err)
		return
	}
	maxAge := int(ps.ExpiresAt.Sub(p.cfg.Now()) / time.Second)
	p.setCookie(w, r, id, max(maxAge, 1))
	p.cfg.Logger.InfoContext(r.Context(), "portal: signed in", slog.String("portal_session_id", ps.ID))
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
}

// signOut ends the session in the store and the browser.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request, s *portalSession) {
	if err := p.cfg.Store.DeletePortalSession(r.Context(), s.TenantID, s.ID); err != nil && sluice.ErrorCode(err) != sluice.ENOTFOUND {
		p.fail(w, r, nil, err)
		return
	}
	p.setCookie(w, r, "", -1)
	p.render(w, r, nil, http.StatusOK, "portal_signedout.html", errorView{Message: "You are signed out."})
}

// setCookie sets the portal's cookie: HttpOnly, on /portal/ only, Secure
// when the client reached the gateway over HTTPS. SameSite=Lax, not Strict:
// the tenant's application links to the sign-in page from its own site,
// and a Strict cookie set there would not come back on the redirect that
// follows. Every change is a POST carrying the session's CSRF token, which
// Lax cookies alone do not give another site. A negative maxAge deletes it.
func (p *Portal) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: portalCookie, Value: value, Path: "/portal/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.cfg.Origin.Secure(r), SameSite: http.SameSiteLaxMode})
}

// noSuchPage answers every path the portal does not serve.
func (p *Portal) noSuchPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, nil, http.StatusNotFound, "portal_signedout.html", errorView{Message: "There is no such page."})
}

// portalView is what every portal page template gets.
type portalView struct {
	Title    string
	CSRF     string
	Customer string // the session's, for the header; "" signed out
	Payloads bool   // the session may read payloads
	Flash    string
	Error    string
	Page     any
}

var portalTitles = map[string]string{
	"portal_destinations.html": "Your endpoints", "portal_destination.html": "Endpoint",
	"portal_delivery.html": "Delivery", "portal_error.html": "Error", "portal_signedout.html": "Webhooks",
}

func parsePortalPages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for name := range portalTitles {
		pages[name] = template.Must(template.New(name).Funcs(pageFuncs()).ParseFS(templateFS,
			"templates/portal_layout.html", "templates/partial_forms.html", "templates/"+name))
	}
	return pages
}

// render writes a portal page with the portal's layout; s nil for a page
// of no session.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, s *portalSession, status int, name string, v any) {
	data := portalView{Title: portalTitles[name], Page: v}
	if s != nil {
		data.CSRF, data.Customer, data.Payloads = s.CSRF, s.Scope.Customer, s.Scope.Payloads
		if s.Flash != "" { // never from the URL: a link could forge it
			s.Flash = ""
			message, err := p.cfg.Store.TakePortalFlash(r.Context(), s.idHash)
			if err != nil {
				p.cfg.Logger.ErrorContext(r.Context(), "portal: take flash message", slog.String("portal_session_id", s.ID),
					slog.Any("error", err))
			}
			data.Flash = message
		}
	}
	if ev, ok := v.(errorView); ok {
		data.Error = ev.Message
	}
	writePage(w, p.cfg.Logger, p.pages[name], name, status, data)
}

// fail shows an error page for a store failure. It logs the route's
// pattern, not the path: a sign-in path carries a token.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, s *portalSession, err error) {
	p.cfg.Logger.ErrorContext(r.Context(), "portal: page", slog.String("route", r.Pattern), slog.Any("error", err))
	p.render(w, r, s, http.StatusInternalServerError, "portal_error.html", errorView{Message: "Something went wrong. Try again later."})
}
