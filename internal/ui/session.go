package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Cookie names. The session cookie holds a random id only: the hash of the
// token the session signed in with stays in this process's memory.
const (
	sessionCookie = "sluice_session"
	loginCookie   = "sluice_login" // double-submit CSRF token of the sign-in form
)

// sessionTTL is how long a session lasts after sign-in.
const sessionTTL = 8 * time.Hour

// session is a signed-in browser.
type session struct {
	// tokenHash is the hash of the API token it signed in with: the key
	// is read by it again on every request.
	tokenHash []byte
	key       *sluice.APIKey
	csrf      string // every form carries it
	expires   time.Time
}

// sessions keeps the signed-in browsers of this process. Sessions end with
// the process: signing in again is cheap, and nothing of a token is ever
// written down.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newSessions() *sessions { return &sessions{byID: make(map[string]*session)} }

func (s *sessions) create(tokenHash []byte, key *sluice.APIKey, now time.Time) (id string, sess *session) {
	sess = &session{tokenHash: tokenHash, key: key, csrf: randomToken(), expires: now.Add(sessionTTL)}
	id = randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.byID { // drop the expired while here
		if !now.Before(v.expires) {
			delete(s.byID, k)
		}
	}
	s.byID[id] = sess
	return id, sess
}

func (s *sessions) get(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[c.Value]
	if sess == nil || !now.Before(sess.expires) {
		return nil
	}
	return sess
}

func (s *sessions) end(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.byID, c.Value)
		s.mu.Unlock()
	}
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
