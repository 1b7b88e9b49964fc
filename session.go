package sluice

import (
	"context"
	"crypto/sha256"
	"time"
)

// Session is a browser signed in to the dashboard with an API key. The
// store keeps it, so that every process sharing the store knows it and it
// outlives a restart. Deleting its key ends it.
type Session struct {
	// IDHash is the SHA-256 of the random id the browser's cookie carries
	// (HashSessionID): the id itself is written nowhere.
	IDHash []byte
	// KeyID is the key it signed in with.
	KeyID string
	// CSRF is the token every form of the session carries.
	CSRF string
	// CreatedAt is set by the store; ExpiresAt by whoever creates it.
	CreatedAt, ExpiresAt time.Time
	// Key is the session's key as it is now, read with the session.
	Key *APIKey
	// Flash is the one-line outcome of the session's last action, waiting
	// to be shown once (SessionStore.TakeSessionFlash); "" when none is.
	Flash string
}

// HashSessionID is the hash a session is stored under: the SHA-256 of
// the id its cookie carries.
func HashSessionID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// MaxFlash is the longest flash message a session keeps, in bytes; a
// longer one is cut.
const MaxFlash = 1000

// SessionStore keeps dashboard sessions; Store embeds it.
type SessionStore interface {
	// CreateSession stores a new session (its CreatedAt is the store's
	// now) and deletes some sessions that have expired: ENOTFOUND if its
	// key is not there, ECONFLICT if its id hash is taken.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session stored under the id hash, with its key
	// and its waiting flash: ENOTFOUND if there is none or it has expired.
	Session(ctx context.Context, idHash []byte) (*Session, error)
	// DeleteSession ends a session (signing out); a session that is not
	// there is no error.
	DeleteSession(ctx context.Context, idHash []byte) error
	// SetSessionFlash leaves a message for the session's next page,
	// replacing one waiting: ENOTFOUND if there is no such session.
	SetSessionFlash(ctx context.Context, idHash []byte, message string) error
	// TakeSessionFlash returns the session's waiting message and clears it
	// in one step, so that a message is taken once however many requests
	// ask at once; "" when none waits.
	TakeSessionFlash(ctx context.Context, idHash []byte) (string, error)
}
