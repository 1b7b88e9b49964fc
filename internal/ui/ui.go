// Package ui is the dashboard at /ui/: server-rendered pages, embedded in
// the binary, that work without JavaScript.
//
// It reads through the store, scoped to the signed-in key's tenant, and
// changes everything through the JSON API, called in process with the
// session's token: validation, roles and the audit log are the API's, once.
// Payloads are read only through the API too, on an explicit request, so
// every read is audited, and never for viewers.
package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the dashboard.
type Config struct {
	// Store is read, for the signed-in key's tenant. Required.
	Store sluice.Store
	// API serves the JSON API; the dashboard calls it in process for every
	// change and every payload read. Required.
	API http.Handler
	// Logger receives ids and outcomes only. Default slog.Default().
	Logger *slog.Logger
	// Retention settings, shown on the privacy page.
	PayloadRetention, MetadataRetention, RetentionInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Handler serves the dashboard.
type Handler struct {
	cfg      Config
	mux      *http.ServeMux
	sessions *sessions
	pages    map[string]*template.Template
}

// New returns the dashboard. It panics if Store or API is nil, a
// programming error.
func New(cfg Config) *Handler {
	if cfg.Store == nil || cfg.API == nil {
		panic("ui: Config.Store and Config.API are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), sessions: newSessions(), pages: parsePages()}
	static, _ := fs.Sub(staticFS, "static") // the embedded folder exists
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /ui/login", h.loginPage)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.page("POST /ui/logout", h.logout)
	h.page("GET /ui/{$}", h.overview)
	h.page("GET /ui/sources", h.sourcesPage)
	h.page("GET /ui/destinations", h.destinationsPage)
	h.page("POST /ui/destinations", h.createDestination)
	h.page("POST /ui/destinations/{id}/enabled", h.switchDestination)
	h.page("GET /ui/events", h.eventsPage)
	h.page("GET /ui/events/{id}", h.eventPage)
	h.page("POST /ui/events/{id}/payload", h.revealPayload)
	h.page("GET /ui/datamap", h.dataMapPage)
	h.page("GET /ui/privacy", h.privacyPage)
	h.page("POST /ui/erasures", h.erase)
	h.page("POST /ui/export", h.export)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// pageFunc serves a page for a signed-in session.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session)

// page registers fn behind the session check and, for a POST, the CSRF
// check. A browser without a session is sent to sign in.
func (h *Handler) page(pattern string, fn pageFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s := h.sessions.get(r, h.cfg.Now())
		if s == nil {
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), s.csrf) {
			h.render(w, r, s, http.StatusForbidden, "error.html", errorView{Message: "This form has expired. Go back, reload the page and try again."})
			return
		}
		fn(w, r, s)
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
}

type errorView struct{ Message string }

// render writes a page with the layout.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, v any) {
	t := h.pages[name]
	data := view{Title: titles[name], Nav: strings.TrimSuffix(name, ".html"), Page: v}
	if s != nil {
		data.CSRF, data.Admin, data.Signed = s.csrf, s.key.Role == sluice.RoleAdmin, true
	}
	if f := r.URL.Query().Get("flash"); f != "" {
		data.Flash = f
	}
	if ev, ok := v.(errorView); ok {
		data.Error = ev.Message
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		h.cfg.Logger.Error("ui: render", slog.String("page", name), slog.Any("error", err))
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
}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"join": strings.Join,
		"dur":  humanDuration,
		"list": func() []sluice.EventStatus { return sluice.EventStatuses },
	}
	pages := map[string]*template.Template{}
	for name := range titles {
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name))
	}
	return pages
}

// callAPI calls the JSON API in process as the session's key and decodes a
// JSON answer into out (when non-nil and the call succeeded). It returns
// the status and, for an error, the API's message.
func (h *Handler) callAPI(r *http.Request, s *session, method, path string, body, out any) (int, string) {
	var rd bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&rd).Encode(body); err != nil {
			return http.StatusInternalServerError, "the request could not be encoded"
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, &rd)
	if err != nil {
		return http.StatusInternalServerError, "the request could not be made"
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	rec := &recorder{header: http.Header{}}
	h.cfg.API.ServeHTTP(rec, req)
	if rec.status >= 300 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		return rec.status, e.Error.Message
	}
	if out != nil {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return http.StatusInternalServerError, "the answer could not be read"
		}
	}
	return rec.status, ""
}

// recorder is the response of an in-process API call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
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
