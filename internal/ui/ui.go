// Package ui is the dashboard at /ui/: server-rendered pages, embedded in
// the binary, that work without JavaScript.
//
// It reads and writes through the store, scoped to the signed-in key's
// tenant, with the rules the JSON API applies: the domain's Validate
// methods, safehttp's URL check, the admin role for every change, payload
// read and export, and the same audit entries. The session's key is the
// actor of every change. Payloads are read only on an explicit request, so
// every read is audited, and never for viewers.
package ui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/auditlog"
	"github.com/sluicehq/sluice/internal/datamap"
	"github.com/sluicehq/sluice/internal/keyuse"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/safehttp"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the dashboard reads and changes, for the signed-in key's
// tenant; sluice.Store implements it. Each method is sluice.Store's.
type Store interface {
	datamap.Store
	auditlog.Store
	KeyByTokenHash(ctx context.Context, hash []byte) (*sluice.APIKey, error)
	Destination(ctx context.Context, tenantID, id string) (*sluice.Destination, error)
	CreateDestination(ctx context.Context, d *sluice.Destination) error
	UpdateDestination(ctx context.Context, d *sluice.Destination) error
	Events(ctx context.Context, tenantID string, f sluice.EventFilter) ([]*sluice.Event, string, error)
	Event(ctx context.Context, tenantID, id string) (*sluice.Event, error)
	Payload(ctx context.Context, tenantID, eventID string) (*sluice.Payload, error)
	Deliveries(ctx context.Context, tenantID, eventID string) ([]*sluice.Delivery, error)
	Attempts(ctx context.Context, tenantID, eventID string) ([]*sluice.Attempt, error)
	RetainedPayloads(ctx context.Context, tenantID string) (count int, nextExpiry time.Time, err error)
	EraseSubject(ctx context.Context, tenantID string, s sluice.Subject) (*sluice.Erasure, error)
	SubjectPayloads(ctx context.Context, tenantID string, s sluice.Subject) ([]*sluice.SubjectPayload, error)
	RecordAudit(ctx context.Context, e *sluice.AuditEntry) error
	RecordKeyUse(ctx context.Context, keyID string, at time.Time) error
	sourceStore
	Replay(ctx context.Context, tenantID, eventID, destinationID string, firstDelay time.Duration) ([]*sluice.Delivery, error)
	Recover(ctx context.Context, tenantID, destinationID string, since, until time.Time, firstDelay time.Duration) (int, error)
	ResumeDestination(ctx context.Context, tenantID, id string) error
	sluice.SessionStore
}

// Settings are what the dashboard and the portal are both given: give
// them the same.
type Settings struct {
	// Logger receives ids and outcomes only, never a portal link's token.
	// Default slog.Default().
	Logger *slog.Logger
	// Policy and Resolver check a new destination's URL as the API does
	// (see safehttp.Policy.CheckDestinationURL); give both the API's
	// settings. The zero Policy refuses every non-public address. Resolver
	// default net.DefaultResolver.
	Policy   safehttp.Policy
	Resolver safehttp.Resolver
	// Origin is how clients reach the gateway: it decides whether the
	// session cookies are Secure, and counts as the gateway's own in the
	// check that a destination does not lead back to it.
	Origin origin.Origin
	// Wake is called when work is due now: a destination enabled or
	// resumed, deliveries replayed or recovered, a test event sent.
	// Default: nothing.
	Wake func()
	// FirstDelay is the delay before a replayed, recovered or test
	// delivery's first attempt; give the API's.
	FirstDelay time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// withDefaults returns s with its defaults filled in.
func (s Settings) withDefaults() Settings {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Resolver == nil {
		s.Resolver = net.DefaultResolver
	}
	if s.Wake == nil {
		s.Wake = func() {}
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// Config configures the dashboard.
type Config struct {
	// Store is read and changed, for the signed-in key's tenant. Required.
	Store Store
	Settings
	// Metrics, when set, counts erasures, as the API does.
	Metrics *metrics.Metrics
	// Retention settings, shown on the privacy page.
	PayloadRetention, MetadataRetention, RetentionInterval time.Duration
	// KeyUse records the minute each key last authenticated; share the
	// API's. Default: a Recorder of its own over Store.
	KeyUse *keyuse.Recorder
}

// Handler serves the dashboard.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New returns the dashboard. It panics if Store is nil, a programming
// error.
func New(cfg Config) *Handler {
	if cfg.Store == nil {
		panic("ui: Config.Store is required")
	}
	cfg.Settings = cfg.Settings.withDefaults()
	if cfg.KeyUse == nil {
		cfg.KeyUse = keyuse.New(cfg.Store, cfg.Logger)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), pages: parsePages()}
	static, _ := fs.Sub(staticFS, "static") // the embedded folder exists
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /ui/login", h.loginPage)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.page("POST /ui/logout", h.logout)
	h.page("GET /ui/{$}", h.overview)
	h.sourceAndDestinationRoutes()
	h.page("POST /ui/destinations/{id}/enabled", h.switchDestination)
	h.page("GET /ui/events", h.eventsPage)
	h.page("GET /ui/events/{id}", h.eventPage)
	h.page("POST /ui/events/{id}/payload", h.revealPayload)
	h.page("GET /ui/datamap", h.dataMapPage)
	h.page("GET /ui/datamap.svg", h.dataMapSVG)
	h.page("GET /ui/privacy", h.privacyPage)
	h.page("POST /ui/erasures", h.erase)
	h.page("POST /ui/export", h.export)
	h.page("POST /ui/events/{id}/replay", h.replay)
	h.page("GET /ui/destinations/{id}/recover", h.destinationActions)
	h.page("POST /ui/destinations/{id}/recover", h.recoverWindow)
	h.page("POST /ui/destinations/{id}/resume", h.resume)
	h.page("GET /ui/audit", h.auditPage)
	h.page("GET /ui/audit.csv", h.auditCSV)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w, "same-origin")
	h.mux.ServeHTTP(w, r)
}

// setPageHeaders sets what every page of the dashboard and the portal
// sends: no script or frame from elsewhere, no sniffing, no caching, and
// the referrer policy given.
func setPageHeaders(w http.ResponseWriter, referrer string) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", referrer)
	w.Header().Set("Cache-Control", "no-store")
}

// pageFunc serves a page for a signed-in session.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session)

// page registers fn behind the session check and, for a POST, the CSRF
// check. A browser without a session, or whose key has been deleted or
// has expired since it signed in, is sent to sign in. The request's
// context carries the key as the Actor of any change it makes, as the
// API's does.
func (h *Handler) page(pattern string, fn pageFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		now := h.cfg.Now()
		// The session is read from the store with its key on every
		// request, as the API authenticates every call: a key deleted
		// (through any process sharing the store) has taken its sessions
		// with it, and one expired ends them here.
		s, err := h.sessionOf(r)
		switch {
		case sluice.ErrorCode(err) == sluice.ENOTFOUND:
			if _, err := r.Cookie(sessionCookie); err == nil {
				h.setCookie(w, r, sessionCookie, "", -1)
			}
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		case err != nil:
			h.fail(w, r, nil, err)
			return
		case s.key.Expired(now):
			h.cfg.Logger.InfoContext(r.Context(), "ui: session ended, its key has expired",
				slog.String("key_id", s.key.ID))
			h.endSession(w, r, s.idHash)
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		key := s.key
		h.cfg.KeyUse.Used(r.Context(), key, now)
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), s.csrf) {
			h.render(w, r, s, http.StatusForbidden, "error.html", errorView{Message: "This form has expired. Go back, reload the page and try again."})
			return
		}
		ctx := sluice.WithActor(r.Context(), sluice.Actor{TenantID: key.TenantID, KeyID: key.ID})
		fn(w, r.WithContext(h.withFlash(ctx, s)), s)
	})
}

// view is what every page template gets.
type view struct {
	Title  string
	Nav    string // the section to mark in the navigation
	CSRF   string
	Admin  bool
	Flash  string // a one-line outcome of the last action
	Error  string
	Page   any
	Signed bool
	// Role and KeyName say who is signed in: the key's role and name.
	Role, KeyName string
}

type errorView struct{ Message string }

// render writes a page with the layout.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, v any) {
	t := h.pages[name]
	data := view{Title: titles[name], Nav: strings.TrimSuffix(name, ".html"), Page: v}
	if s != nil {
		data.CSRF, data.Admin, data.Signed = s.csrf, s.key.Role == sluice.RoleAdmin, true
		data.Role, data.KeyName = string(s.key.Role), s.key.Name
	}
	data.Flash = h.takeFlash(r, s) // never from the URL: a link could forge it
	if ev, ok := v.(errorView); ok {
		data.Error = ev.Message
	}
	writePage(w, h.cfg.Logger, t, name, status, data)
}

// writePage executes the page template t's layout with data and writes it
// with status; a template that fails is logged and answered 500 alone.
func writePage(w http.ResponseWriter, logger *slog.Logger, t *template.Template, name string, status int, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		logger.Error("ui: render", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

var titles = map[string]string{
	"login.html": "Sign in", "overview.html": "Overview", "sources.html": "Sources",
	"destinations.html": "Destinations", "events.html": "Events", "event.html": "Event",
	"datamap.html": "Data map", "privacy.html": "Privacy", "error.html": "Error",
	"confirm.html": "Confirm", "recover.html": "Recover and resume",
	"audit.html": "Audit log",
}

func parsePages() map[string]*template.Template {
	funcs := pageFuncs()
	funcs["dur"] = humanDuration
	funcs["list"] = func() []sluice.EventStatus { return sluice.EventStatuses }
	funcs["change"] = auditlog.ChangeText
	pages := map[string]*template.Template{}
	for name := range titles {
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partial_*.html", "templates/"+name))
	}
	return pages
}

// pageFuncs are the template functions of every page, the dashboard's and
// the portal's: a time as UTC to the second ("—" for none), and join.
func pageFuncs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"join": strings.Join,
		// args makes a partial template's argument of key and value pairs.
		"args": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("args: %d values, not pairs", len(kv))
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("args: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
	}
}

// humanDuration shows a setting's duration in the largest whole unit that
// fits: "30 days", "1 minute", "90 seconds".
func humanDuration(d time.Duration) string {
	for _, u := range []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d >= u.size && d%u.size == 0 {
			n := int64(d / u.size)
			if n == 1 {
				return "1 " + u.name
			}
			return fmt.Sprintf("%d %ss", n, u.name)
		}
	}
	return d.String()
}
