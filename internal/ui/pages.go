package ui

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/datamap"
)

// loginPage shows the sign-in form, with a fresh double-submit CSRF token.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := h.sessionOf(r); err == nil && !s.key.Expired(h.cfg.Now()) {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	token := randomToken()
	h.setCookie(w, r, loginCookie, token, 600)
	h.render(w, r, nil, http.StatusOK, "login.html", loginView{CSRF: token})
}

type loginView struct {
	CSRF  string
	Error string
}

// login signs in with an API token (POST /ui/login with the form field
// token): the store keeps the session, under the hash of a random id that
// only the browser gets; nothing of the token is kept.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !loginFormGenuine(r) {
		h.render(w, r, nil, http.StatusForbidden, "login.html", loginView{CSRF: h.freshLogin(w, r),
			Error: "The sign-in form expired. Try again."})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	hash := sluice.HashToken(token)
	now := h.cfg.Now()
	key, err := h.cfg.Store.KeyByTokenHash(r.Context(), hash)
	refused := ""
	switch {
	case token == "" || sluice.ErrorCode(err) == sluice.ENOTFOUND:
		refused = "That token is not valid."
	case err != nil:
		h.cfg.Logger.Error("ui: sign in", slog.Any("error", err))
		refused = "That token is not valid."
	case key.Expired(now):
		h.cfg.Logger.Info("ui: sign in refused, the key has expired", slog.String("key_id", key.ID))
		refused = "That token has expired."
	}
	if refused != "" {
		// Nothing of the token is written anywhere: there is no key to
		// audit it under, and a mistyped token may be another secret.
		h.render(w, r, nil, http.StatusUnauthorized, "login.html", loginView{CSRF: h.freshLogin(w, r), Error: refused})
		return
	}
	id, idHash, err := h.startSession(r.Context(), key, now)
	if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	// A sign-in that cannot be audited does not happen.
	if err := h.auditSession(r.Context(), key, "session.sign_in"); err != nil {
		h.endSession(w, r, idHash)
		h.fail(w, r, nil, err)
		return
	}
	h.cfg.KeyUse.Used(r.Context(), key, now)
	h.setCookie(w, r, loginCookie, "", -1)
	h.setCookie(w, r, sessionCookie, id, int(sessionTTL.Seconds()))
	h.cfg.Logger.Info("ui: signed in", slog.String("key_id", key.ID))
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// auditSession records a sign-in or sign-out in the key's tenant's audit
// log, the key both its actor and its resource.
func (h *Handler) auditSession(ctx context.Context, key *sluice.APIKey, action string) error {
	return h.cfg.Store.RecordAudit(ctx, &sluice.AuditEntry{TenantID: key.TenantID, ActorKeyID: key.ID,
		Action: action, ResourceID: key.ID})
}

// loginFormGenuine guards sign-in against cross-site requests. The form
// carries a token matching its cookie (double submit); a browser posting
// from another site also gives itself away by its Origin header. A client
// that is no browser (no Origin, no form token) may post the token field
// alone.
func loginFormGenuine(r *http.Request) bool {
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	field := r.PostFormValue("csrf")
	if field == "" {
		return r.Header.Get("Origin") == "" && r.Header.Get("Sec-Fetch-Site") == ""
	}
	c, err := r.Cookie(loginCookie)
	return err == nil && sameToken(field, c.Value)
}

func (h *Handler) freshLogin(w http.ResponseWriter, r *http.Request) string {
	token := randomToken()
	h.setCookie(w, r, loginCookie, token, 600)
	return token
}

// logout ends the session, and audits it. The session ends even if the
// entry cannot be written: a sign-out that fails would be worse.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := h.auditSession(r.Context(), s.key, "session.sign_out"); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "ui: sign out not audited", slog.String("key_id", s.key.ID),
			slog.Any("error", err))
	}
	h.endSession(w, r, s.idHash)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// fail shows an error page for a store failure, logging only its id-free
// error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	h.cfg.Logger.Error("ui: page", slog.String("path", r.URL.Path), slog.Any("error", err))
	h.render(w, r, s, http.StatusInternalServerError, "error.html", errorView{Message: "Something went wrong reading the store."})
}

// back redirects after a form, leaving a one-line outcome in the session
// for the next page to show once (see takeFlash). The URL carries nothing
// of it: a link cannot put words on the dashboard.
func back(w http.ResponseWriter, r *http.Request, to, flash string) {
	if set, ok := r.Context().Value(flashKey{}).(func(context.Context, string)); ok && flash != "" {
		set(r.Context(), flash)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type overviewView struct {
	Sources, Destinations int
	ByState               map[string]int
	Failing               []*sluice.Destination
	Recent                []*sluice.Event
	PerSecond             float64
	Delivered, Failed     int
	SuccessRate           string
	Retention, NextPurge  time.Duration
	Payloads              int       // retained
	NextExpiry            time.Time // when the next payload expires
}

// overview shows the recent flow: the rate and outcome of the latest
// events, destinations by state and those failing, and retention.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, tenant := r.Context(), s.key.TenantID
	v := overviewView{ByState: map[string]int{}, Retention: h.cfg.PayloadRetention, NextPurge: h.cfg.RetentionInterval}
	srcs, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Source, string, error) { return h.cfg.Store.Sources(ctx, tenant, p) })
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	dests, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Destination, string, error) {
		return h.cfg.Store.Destinations(ctx, tenant, p)
	})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	if v.Payloads, v.NextExpiry, err = h.cfg.Store.RetainedPayloads(ctx, tenant); err != nil {
		h.fail(w, r, s, err)
		return
	}
	v.Sources, v.Destinations = len(srcs), len(dests)
	for _, d := range dests {
		v.ByState[d.State()]++
		if d.State() != sluice.StateActive || d.Failures > 0 {
			v.Failing = append(v.Failing, d)
		}
	}
	events, _, err := h.cfg.Store.Events(ctx, tenant, sluice.EventFilter{Page: sluice.Page{Limit: 200}})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	for _, e := range events {
		switch e.Status {
		case sluice.EventDelivered:
			v.Delivered++
		case sluice.EventFailed:
			v.Failed++
		}
	}
	if n := len(events); n > 1 {
		if span := events[0].ReceivedAt.Sub(events[n-1].ReceivedAt); span > 0 {
			v.PerSecond = float64(n-1) / span.Seconds()
		}
	}
	if ended := v.Delivered + v.Failed; ended > 0 {
		v.SuccessRate = fmt.Sprintf("%.1f%%", 100*float64(v.Delivered)/float64(ended))
	}
	v.Recent = events[:min(len(events), 10)]
	h.render(w, r, s, http.StatusOK, "overview.html", v)
}

type eventsView struct {
	Filter       sluice.EventFilter
	Since, Until string // as the form gave them
	Events       []*sluice.Event
	Next         string
}

// timeInput is the layout of a datetime-local input, read as UTC.
const timeInput = "2006-01-02T15:04"

func (h *Handler) eventsPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := eventsView{Since: q.Get("since"), Until: q.Get("until")}
	f := sluice.EventFilter{Page: sluice.Page{Limit: 50, Cursor: q.Get("cursor")}, Type: q.Get("type"),
		SourceID: q.Get("source_id"), Status: sluice.EventStatus(q.Get("status"))}
	for _, b := range []struct {
		text string
		to   *time.Time
	}{{v.Since, &f.Since}, {v.Until, &f.Until}} {
		if b.text == "" {
			continue
		}
		t, err := time.Parse(timeInput, b.text)
		if err != nil {
			h.render(w, r, s, http.StatusBadRequest, "error.html", errorView{Message: "A time filter is not a date and time."})
			return
		}
		*b.to = t
	}
	events, next, err := h.cfg.Store.Events(r.Context(), s.key.TenantID, f)
	if err != nil && sluice.ErrorCode(err) == sluice.EINVALID {
		h.render(w, r, s, http.StatusBadRequest, "error.html", errorView{Message: "That filter is not valid."})
		return
	}
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v.Filter, v.Events, v.Next = f, events, next
	h.render(w, r, s, http.StatusOK, "events.html", v)
}

type eventView struct {
	Event      *sluice.Event
	Deliveries []*sluice.Delivery
	Attempts   []*sluice.Attempt
	Payload    string // shown only after an explicit, audited request
	Shown      bool
	// Destinations are the tenant's, to replay to; Names names them by id.
	Destinations []*sluice.Destination
	Names        map[string]string
}

func (h *Handler) eventView(r *http.Request, s *session) (*eventView, error) {
	ctx, tenant, id := r.Context(), s.key.TenantID, r.PathValue("id")
	ev, err := h.cfg.Store.Event(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	v := &eventView{Event: ev}
	if v.Deliveries, err = h.cfg.Store.Deliveries(ctx, tenant, id); err != nil {
		return nil, err
	}
	if v.Attempts, err = h.cfg.Store.Attempts(ctx, tenant, id); err != nil {
		return nil, err
	}
	if v.Destinations, v.Names, err = h.destinationNames(ctx, tenant); err != nil {
		return nil, err
	}
	return v, nil
}

func (h *Handler) eventPage(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := h.eventView(r, s)
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		h.render(w, r, s, http.StatusNotFound, "error.html", errorView{Message: "There is no such event."})
	case err != nil:
		h.fail(w, r, s, err)
	default:
		h.render(w, r, s, http.StatusOK, "event.html", v)
	}
}

// dataMapView is the data map, with names for its destinations.
type dataMapView struct{ datamap.Map }

// DestinationName names a destination of the map by its id.
func (m dataMapView) DestinationName(id string) string {
	for _, d := range m.Destinations {
		if d.ID == id {
			return d.Name
		}
	}
	return ""
}

func (h *Handler) dataMapPage(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := datamap.Build(r.Context(), h.cfg.Store, s.key.TenantID)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.render(w, r, s, http.StatusOK, "datamap.html", dataMapView{*m})
}

type privacyView struct {
	PayloadRetention, MetadataRetention, RetentionInterval time.Duration
	Erasure                                                *sluice.Erasure
}

// privacyView is the privacy page's; the audit log has a page of its own
// (auditPage).
func (h *Handler) privacyView(r *http.Request, s *session) (*privacyView, error) {
	return &privacyView{PayloadRetention: h.cfg.PayloadRetention, MetadataRetention: h.cfg.MetadataRetention,
		RetentionInterval: h.cfg.RetentionInterval}, nil
}

func (h *Handler) privacyPage(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := h.privacyView(r, s)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.render(w, r, s, http.StatusOK, "privacy.html", v)
}

// splitList reads a comma-separated form field.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
