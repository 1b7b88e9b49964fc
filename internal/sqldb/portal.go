package sqldb

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// Portal sessions (see sluice.PortalStore): a row in portal_sessions under
// its id, found by the hash of its link's token until sign-in (link_hash,
// then NULL) and by the hash of its cookie's id after (id_hash), and at
// most one waiting flash message in portal_flashes (ON DELETE CASCADE).

// portalColumns are portal_sessions' columns in scanPortalSession's order.
// Unqualified: portal_flashes, joined to it, has none of them.
const portalColumns = `id, tenant_id, customer, payloads, created_by, created_at, link_expires_at, ttl_ms, csrf,
	signed_in_at, expires_at`

func scanPortalSession(row Row, more ...any) (*sluice.PortalSession, error) {
	var p sluice.PortalSession
	var created, linkExpires, ttl int64
	var signedIn, expires *int64
	if err := row.Scan(append([]any{&p.ID, &p.TenantID, &p.Scope.Customer, &p.Scope.Payloads, &p.CreatedBy, &created,
		&linkExpires, &ttl, &p.CSRF, &signedIn, &expires}, more...)...); err != nil {
		return nil, notFound(err, "portal session")
	}
	p.CreatedAt, p.LinkExpiresAt, p.TTL = FromMS(created), FromMS(linkExpires), time.Duration(ttl)*time.Millisecond
	p.SignedInAt, p.ExpiresAt = FromNullMS(signedIn), FromNullMS(expires)
	return &p, nil
}

// InsertPortalSession stores a portal session that has not signed in:
// ECONFLICT if its id or link hash is taken, ENOTFOUND if its tenant is
// not there.
func (o *Ops) InsertPortalSession(ctx context.Context, p *sluice.PortalSession) error {
	_, err := o.Conn.Exec(ctx, `INSERT INTO portal_sessions (id, tenant_id, customer, payloads, created_by, created_at,
			link_hash, link_expires_at, ttl_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		p.ID, p.TenantID, p.Scope.Customer, p.Scope.Payloads, p.CreatedBy, MS(p.CreatedAt), p.LinkHash,
		MS(p.LinkExpiresAt), p.TTL.Milliseconds())
	return err
}

// SignInPortal signs in the portal session whose unused link has the hash
// and expires after now: it forgets the link, keeps the session under
// idHash with csrf until now plus its TTL, and returns it. ENOTFOUND when
// there is no such link.
func (o *Ops) SignInPortal(ctx context.Context, linkHash, idHash []byte, csrf string, now time.Time) (*sluice.PortalSession, error) {
	return scanPortalSession(o.Conn.QueryRow(ctx, `UPDATE portal_sessions SET link_hash = NULL, id_hash = $2,
			csrf = $3, signed_in_at = $4, expires_at = $4 + ttl_ms
		WHERE link_hash = $1 AND link_expires_at > $4 RETURNING `+portalColumns, linkHash, idHash, csrf, MS(now)))
}

// PortalSession returns the signed-in portal session under the id hash
// that has not expired at now, with its waiting flash message: ENOTFOUND.
func (o *Ops) PortalSession(ctx context.Context, idHash []byte, now time.Time) (*sluice.PortalSession, error) {
	var flash *string
	p, err := scanPortalSession(o.Conn.QueryRow(ctx, `SELECT `+portalColumns+`, message FROM portal_sessions
		LEFT JOIN portal_flashes ON session_hash = id_hash WHERE id_hash = $1 AND expires_at > $2`, idHash, MS(now)), &flash)
	if err != nil {
		return nil, err
	}
	if flash != nil {
		p.Flash = *flash
	}
	return p, nil
}

// DeletePortalSession deletes one of the tenant's portal sessions:
// ENOTFOUND.
func (o *Ops) DeletePortalSession(ctx context.Context, tenantID, id string) error {
	return o.execOne(ctx, "portal session", `DELETE FROM portal_sessions WHERE id = $1 AND tenant_id = $2`, id, tenantID)
}

// DeleteExpiredPortalSessions deletes up to limit portal sessions over at
// now, signed in and expired or never signed in and their link expired,
// and returns how many it deleted.
func (o *Ops) DeleteExpiredPortalSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := o.Conn.Exec(ctx, `DELETE FROM portal_sessions WHERE id IN (SELECT id FROM portal_sessions
		WHERE expires_at <= $1 OR expires_at IS NULL AND link_expires_at <= $1 LIMIT $2)`, MS(now), limit)
	return int(n), err
}

// SetPortalFlash leaves a portal session's flash message, as
// SetSessionFlash a dashboard session's.
func (o *Ops) SetPortalFlash(ctx context.Context, idHash []byte, message string) error {
	return o.setFlash(ctx, "portal_flashes", idHash, message)
}

// TakePortalFlash takes a portal session's flash message, as
// TakeSessionFlash a dashboard session's.
func (o *Ops) TakePortalFlash(ctx context.Context, idHash []byte) (string, error) {
	return o.takeFlash(ctx, "portal_flashes", idHash)
}
