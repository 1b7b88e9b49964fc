package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Dashboard sessions (see sluice.SessionStore): a row in sessions under the
// hash of the cookie's id, referring to its key (ON DELETE CASCADE), and at
// most one waiting flash message in session_flashes (ON DELETE CASCADE from
// the session).

// InsertSession stores a session: ECONFLICT if its id hash is taken,
// ENOTFOUND if its key is not there.
func (o *Ops) InsertSession(ctx context.Context, s *sluice.Session) error {
	_, err := o.Conn.Exec(ctx, `INSERT INTO sessions (id_hash, key_id, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, s.IDHash, s.KeyID, s.CSRF, MS(s.CreatedAt), MS(s.ExpiresAt))
	return err
}

// Session returns the session with the id hash that has not expired at
// now, with its key and its waiting flash message: ENOTFOUND.
func (o *Ops) Session(ctx context.Context, idHash []byte, now time.Time) (*sluice.Session, error) {
	var s sluice.Session
	var created, expires int64
	var flash *string
	row := o.Conn.QueryRow(ctx, `SELECT s.id_hash, s.key_id, s.csrf, s.created_at, s.expires_at, f.message, `+
		qualified("k", keyColumns)+` FROM sessions s JOIN api_keys k ON k.id = s.key_id
		LEFT JOIN session_flashes f ON f.session_hash = s.id_hash
		WHERE s.id_hash = $1 AND s.expires_at > $2`, idHash, MS(now))
	key, err := scanKey(prefixedRow{row: row, dest: []any{&s.IDHash, &s.KeyID, &s.CSRF, &created, &expires, &flash}})
	if err != nil {
		return nil, notFound(err, "session")
	}
	s.Key, s.CreatedAt, s.ExpiresAt = key, FromMS(created), FromMS(expires)
	if flash != nil {
		s.Flash = *flash
	}
	return &s, nil
}

// DeleteSession deletes a session, if it is there.
func (o *Ops) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := o.Conn.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	return err
}

// DeleteKeySessions deletes every session of a key.
func (o *Ops) DeleteKeySessions(ctx context.Context, keyID string) error {
	_, err := o.Conn.Exec(ctx, `DELETE FROM sessions WHERE key_id = $1`, keyID)
	return err
}

// DeleteExpiredSessions deletes up to limit sessions expired at now and
// returns how many it deleted.
func (o *Ops) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := o.Conn.Exec(ctx, `DELETE FROM sessions WHERE id_hash IN
		(SELECT id_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)`, MS(now), limit)
	return int(n), err
}

// SetSessionFlash leaves a session's flash message, replacing one waiting:
// ENOTFOUND if there is no such session.
func (o *Ops) SetSessionFlash(ctx context.Context, idHash []byte, message string) error {
	return o.setFlash(ctx, "session_flashes", idHash, message)
}

// setFlash leaves a flash message in table (session_flashes or
// portal_flashes) under the session's hash, replacing one waiting.
func (o *Ops) setFlash(ctx context.Context, table string, idHash []byte, message string) error {
	_, err := o.Conn.Exec(ctx, `INSERT INTO `+table+` (session_hash, message) VALUES ($1, $2)
		ON CONFLICT (session_hash) DO UPDATE SET message = excluded.message`, idHash, message)
	return err
}

// TakeSessionFlash deletes a session's flash message and returns it, in
// one statement: of requests taking it at once, one gets it. "" when none
// waits.
func (o *Ops) TakeSessionFlash(ctx context.Context, idHash []byte) (string, error) {
	return o.takeFlash(ctx, "session_flashes", idHash)
}

// takeFlash deletes the flash message in table under the session's hash
// and returns it, in one statement; "" when none waits.
func (o *Ops) takeFlash(ctx context.Context, table string, idHash []byte) (string, error) {
	var message string
	err := o.Conn.QueryRow(ctx, `DELETE FROM `+table+` WHERE session_hash = $1 RETURNING message`, idHash).Scan(&message)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return message, err
}

// prefixedRow scans the columns before another scanner's into dest.
type prefixedRow struct {
	row  Row
	dest []any
}

func (p prefixedRow) Scan(dest ...any) error { return p.row.Scan(append(p.dest, dest...)...) }

// qualified prefixes each of a list of columns with a table's alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
