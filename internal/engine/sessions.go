package engine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// SessionReader reads dashboard sessions; Reader embeds it.
type SessionReader interface {
	// Session returns the session with the id hash that has not expired
	// at now, with its key and its waiting flash message: ENOTFOUND.
	Session(ctx context.Context, idHash []byte, now time.Time) (*sluice.Session, error)
}

// SessionWriter writes dashboard sessions; Tx embeds it.
type SessionWriter interface {
	// InsertSession stores a session: ECONFLICT if its id hash is taken,
	// ENOTFOUND if its key is not there.
	InsertSession(ctx context.Context, s *sluice.Session) error
	// DeleteSession deletes a session, if it is there.
	DeleteSession(ctx context.Context, idHash []byte) error
	// DeleteKeySessions deletes every session of a key.
	DeleteKeySessions(ctx context.Context, keyID string) error
	// DeleteExpiredSessions deletes up to limit sessions expired at now and
	// returns how many it deleted.
	DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error)
	// SetSessionFlash leaves a session's flash message, replacing one
	// waiting: ENOTFOUND if there is no such session.
	SetSessionFlash(ctx context.Context, idHash []byte, message string) error
	// TakeSessionFlash deletes a session's flash message and returns it, in
	// one statement; "" when none waits.
	TakeSessionFlash(ctx context.Context, idHash []byte) (string, error)
}

// sessionPurgeBatch is how many expired sessions each new one deletes at
// most: more than are created in the meantime, so they do not pile up, and
// few enough that a sign-in stays quick however many there are.
const sessionPurgeBatch = 100

// CreateSession stores a new session and deletes some that have expired;
// see sluice.SessionStore. EINVALID for a session without an id hash or a
// key.
func (s *Store) CreateSession(ctx context.Context, ss *sluice.Session) error {
	if len(ss.IDHash) != sha256.Size || ss.KeyID == "" {
		return sluice.Errorf(sluice.EINVALID, "a session needs the hash of its id and its key")
	}
	ss.CreatedAt = s.now()
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := tx.DeleteExpiredSessions(ctx, ss.CreatedAt, sessionPurgeBatch); err != nil {
			return fmt.Errorf("delete expired sessions: %w", err)
		}
		return tx.InsertSession(ctx, ss)
	})
	switch sluice.ErrorCode(err) {
	case sluice.ENOTFOUND:
		return sluice.Errorf(sluice.ENOTFOUND, "key not found")
	case sluice.ECONFLICT:
		return sluice.Errorf(sluice.ECONFLICT, "a session with this id exists already")
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns a session that has not expired, with its key as it is
// now and its waiting flash message; ENOTFOUND.
func (s *Store) Session(ctx context.Context, idHash []byte) (*sluice.Session, error) {
	return s.read.Session(ctx, idHash, s.now())
}

// DeleteSession ends a session; one that is not there is no error.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.DeleteSession(ctx, idHash); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}

// SetSessionFlash leaves a message, cut to sluice.MaxFlash bytes, for the
// session's next page: ENOTFOUND if there is no such session.
func (s *Store) SetSessionFlash(ctx context.Context, idHash []byte, message string) error {
	return s.setFlash(ctx, "session", func(ctx context.Context, tx Tx, m string) error {
		return tx.SetSessionFlash(ctx, idHash, m)
	}, message)
}

// setFlash leaves message, cut to sluice.MaxFlash bytes, with set:
// ENOTFOUND naming what when there is no such session.
func (s *Store) setFlash(ctx context.Context, what string, set func(context.Context, Tx, string) error, message string) error {
	message = cutUTF8(message, sluice.MaxFlash)
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		return set(ctx, tx, message)
	})
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		return sluice.Errorf(sluice.ENOTFOUND, "%s not found", what)
	case err != nil:
		return fmt.Errorf("set %s flash: %w", what, err)
	}
	return nil
}

// TakeSessionFlash returns the session's waiting message and clears it at
// once; "" when none waits.
func (s *Store) TakeSessionFlash(ctx context.Context, idHash []byte) (string, error) {
	return s.takeFlash(ctx, "session", func(ctx context.Context, tx Tx) (string, error) {
		return tx.TakeSessionFlash(ctx, idHash)
	})
}

// takeFlash takes a waiting message with take.
func (s *Store) takeFlash(ctx context.Context, what string, take func(context.Context, Tx) (string, error)) (string, error) {
	var message string
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		message, err = take(ctx, tx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("take %s flash: %w", what, err)
	}
	return message, nil
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
