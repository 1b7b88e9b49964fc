package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
)

// Cookie names. The session cookie holds a random id only; the store keeps
// the session under the id's hash (sluice.SessionStore), so every process
// sharing the store knows it, and a restart signs no one out.
const (
	sessionCookie = "sluice_session"
	loginCookie   = "sluice_login" // double-submit CSRF token of the sign-in form
)

// sessionTTL is how long a session lasts after sign-in.
const sessionTTL = 8 * time.Hour

// session is a signed-in browser, as one request sees it.
type session struct {
	idHash []byte         // what the store keeps it under
	key    *sluice.APIKey // as it is now: read with the session on every request
	csrf   string         // every form carries it
	flash  bool           // a message waits for the next page
}

// sessionOf reads the request's session from the store: ENOTFOUND when the
// browser has none, or it was signed out, has expired or its key was
// deleted.
func (h *Handler) sessionOf(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no session")
	}
	s, err := h.cfg.Store.Session(r.Context(), sluice.HashSessionID(c.Value))
	if err != nil {
		return nil, err
	}
	return &session{idHash: s.IDHash, key: s.Key, csrf: s.CSRF, flash: s.Flash != ""}, nil
}

// startSession stores a new session of key and returns the id its cookie
// carries.
func (h *Handler) startSession(ctx context.Context, key *sluice.APIKey, now time.Time) (string, []byte, error) {
	id := randomToken()
	s := &sluice.Session{IDHash: sluice.HashSessionID(id), KeyID: key.ID, CSRF: randomToken(),
		ExpiresAt: now.Add(sessionTTL)}
	if err := h.cfg.Store.CreateSession(ctx, s); err != nil {
		return "", nil, err
	}
	return id, s.IDHash, nil
}

// endSession deletes the session from the store and its cookie from the
// browser.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request, idHash []byte) {
	if err := h.cfg.Store.DeleteSession(r.Context(), idHash); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "ui: end session", slog.Any("error", err))
	}
	h.setCookie(w, r, sessionCookie, "", -1)
}

// flashKey is the request context's key of the function that leaves a
// flash message in the request's session (see back).
type flashKey struct{}

// withFlash gives back, through ctx, the way to leave a message in s.
func (h *Handler) withFlash(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, flashKey{}, func(ctx context.Context, message string) {
		if err := h.cfg.Store.SetSessionFlash(ctx, s.idHash, message); err != nil {
			h.cfg.Logger.ErrorContext(ctx, "ui: keep flash message", slog.String("key_id", s.key.ID),
				slog.Any("error", err))
		}
	})
}

// takeFlash returns the message waiting in s, clearing it; "" when none
// waits. A message that cannot be read is logged and not shown.
func (h *Handler) takeFlash(r *http.Request, s *session) string {
	if s == nil || !s.flash {
		return ""
	}
	s.flash = false
	message, err := h.cfg.Store.TakeSessionFlash(r.Context(), s.idHash)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "ui: take flash message", slog.String("key_id", s.key.ID),
			slog.Any("error", err))
	}
	return message
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameToken compares CSRF tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// setCookie sets an HttpOnly, SameSite=Strict cookie on /ui/, Secure when
// the client reached the gateway over HTTPS (directly, through a trusted
// proxy, or at an https public URL). A negative maxAge deletes it.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.cfg.Origin.Secure(r), SameSite: http.SameSiteStrictMode})
}
