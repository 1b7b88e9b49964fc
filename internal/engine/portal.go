package engine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// PortalReader reads portal sessions; Reader embeds it.
type PortalReader interface {
	// PortalSession returns the signed-in portal session under the id hash
	// that has not expired at now, with its waiting flash: ENOTFOUND.
	PortalSession(ctx context.Context, idHash []byte, now time.Time) (*sluice.PortalSession, error)
}

// PortalWriter writes portal sessions; Tx embeds it.
type PortalWriter interface {
	// InsertPortalSession stores a portal session not yet signed in:
	// ECONFLICT if its id or link hash is taken, ENOTFOUND if its tenant
	// is not there.
	InsertPortalSession(ctx context.Context, p *sluice.PortalSession) error
	// SignInPortal signs in the portal session whose unused link has the
	// hash and expires after now: the link is forgotten, the session kept
	// under idHash with csrf until now plus its TTL, and returned.
	// ENOTFOUND when there is no such link.
	SignInPortal(ctx context.Context, linkHash, idHash []byte, csrf string, now time.Time) (*sluice.PortalSession, error)
	// DeletePortalSession deletes one of the tenant's portal sessions:
	// ENOTFOUND.
	DeletePortalSession(ctx context.Context, tenantID, id string) error
	// DeleteExpiredPortalSessions deletes up to limit portal sessions over
	// at now (expired, or never used and their link expired) and returns
	// how many it deleted.
	DeleteExpiredPortalSessions(ctx context.Context, now time.Time, limit int) (int, error)
	// SetPortalFlash and TakePortalFlash are SetSessionFlash and
	// TakeSessionFlash for portal sessions.
	SetPortalFlash(ctx context.Context, idHash []byte, message string) error
	TakePortalFlash(ctx context.Context, idHash []byte) (string, error)
}

// CreatePortalSession stores a new portal session and deletes some that are
// over; see sluice.PortalStore.
func (s *Store) CreatePortalSession(ctx context.Context, p *sluice.PortalSession) error {
	now := s.now()
	if err := p.Validate(); err != nil {
		return err
	}
	if len(p.LinkHash) != sha256.Size {
		return sluice.Errorf(sluice.EINVALID, "a portal session needs the hash of its link's token")
	}
	p.ID, p.CreatedAt, p.CreatedBy = sluice.NewID(sluice.PrefixPortal), now, sluice.ActorFrom(ctx).KeyID
	p.LinkExpiresAt = now.Add(p.LinkTTL)
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := tx.DeleteExpiredPortalSessions(ctx, now, sessionPurgeBatch); err != nil {
			return fmt.Errorf("delete expired portal sessions: %w", err)
		}
		if err := tx.InsertPortalSession(ctx, p); err != nil {
			return err
		}
		return s.auditDiff(ctx, tx, p.TenantID, "portal_session.create", p.ID, nil, portalFields(p))
	})
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return sluice.Errorf(sluice.ENOTFOUND, "tenant not found")
	}
	return err
}

// portalFields are what a portal session's creation records.
func portalFields(p *sluice.PortalSession) []auditField {
	return []auditField{
		field("scope.customer", p.Scope.Customer),
		field("scope.payloads", p.Scope.Payloads),
		field("link_expires_at", timeValue(p.LinkExpiresAt)),
		field("session_ttl_seconds", int(p.TTL/time.Second)),
	}
}

// SignInPortal uses a sign-in link once; see sluice.PortalStore.
func (s *Store) SignInPortal(ctx context.Context, linkHash, idHash []byte, csrf string) (*sluice.PortalSession, error) {
	if len(idHash) != sha256.Size || csrf == "" {
		return nil, sluice.Errorf(sluice.EINVALID, "a portal session needs the hash of its id and a CSRF token")
	}
	var p *sluice.PortalSession
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if p, err = tx.SignInPortal(ctx, linkHash, idHash, csrf, s.now()); err != nil {
			return err
		}
		ctx = sluice.WithActor(ctx, sluice.Actor{TenantID: p.TenantID, KeyID: p.ID})
		return s.audit(ctx, tx, p.TenantID, "portal_session.sign_in", p.ID)
	})
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "this sign-in link has expired or was used already")
	}
	if err != nil {
		return nil, fmt.Errorf("sign in to portal: %w", err)
	}
	return p, nil
}

// PortalSession returns a signed-in portal session that has not expired,
// with its waiting flash; ENOTFOUND.
func (s *Store) PortalSession(ctx context.Context, idHash []byte) (*sluice.PortalSession, error) {
	return s.read.PortalSession(ctx, idHash, s.now())
}

// DeletePortalSession ends one of the tenant's portal sessions, audited as
// portal_session.delete; ENOTFOUND.
func (s *Store) DeletePortalSession(ctx context.Context, tenantID, id string) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.DeletePortalSession(ctx, tenantID, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, tenantID, "portal_session.delete", id)
	})
}

// SetPortalFlash leaves a message, cut to sluice.MaxFlash bytes, for the
// portal session's next page: ENOTFOUND if there is no such session.
func (s *Store) SetPortalFlash(ctx context.Context, idHash []byte, message string) error {
	return s.setFlash(ctx, "portal session", func(ctx context.Context, tx Tx, m string) error {
		return tx.SetPortalFlash(ctx, idHash, m)
	}, message)
}

// TakePortalFlash returns the portal session's waiting message and clears
// it at once; "" when none waits.
func (s *Store) TakePortalFlash(ctx context.Context, idHash []byte) (string, error) {
	return s.takeFlash(ctx, "portal session", func(ctx context.Context, tx Tx) (string, error) {
		return tx.TakePortalFlash(ctx, idHash)
	})
}

// CustomerDestinations lists the destinations of one of the tenant's
// customers, newest first; EINVALID for a customer id that is not one.
func (s *Store) CustomerDestinations(ctx context.Context, tenantID, customer string, page sluice.Page) ([]*sluice.Destination, string, error) {
	if err := sluice.ValidateCustomer(customer); err != nil {
		return nil, "", err
	}
	if customer == "" {
		return nil, "", nil
	}
	rows, next, err := s.read.CustomerDestinations(ctx, tenantID, customer, page)
	if err != nil {
		return nil, "", err
	}
	out, err := openAll(ctx, rows, s.openDestination)
	return out, next, err
}

// testEventBody is the payload of a test event: nothing about anyone.
type testEventBody struct {
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      struct {
		DestinationID string `json:"destination_id"`
		Message       string `json:"message"`
	} `json:"data"`
}

// SendTestEvent publishes a test event to one destination alone; see
// sluice.Store. It is made and stored as an operational notice is (not
// through CreateEvent), with its audit entry in the same transaction, so
// it teaches the data map and the anomaly detectors nothing.
func (s *Store) SendTestEvent(ctx context.Context, tenantID, destinationID string, firstDelay time.Duration) (*sluice.Event, error) {
	d, err := s.read.Destination(ctx, tenantID, destinationID)
	if err != nil {
		return nil, err
	}
	if d.Listening() {
		return nil, sluice.Errorf(sluice.EINVALID, "a listen destination gets test events from `sluice trigger`")
	}
	body := testEventBody{Type: sluice.TestEventType, CreatedAt: s.now().UTC()}
	body.Data.DestinationID = d.ID
	body.Data.Message = "This is a test event. It was sent to this endpoint alone."
	// A notice, as Sluice's own events are: it names no one, and its
	// payload is kept whatever the tenant's payload storage.
	ne, err := s.newNotice(tenantID, sluice.TestEventType, body, body.CreatedAt)
	if err != nil {
		return nil, err
	}
	ne.Event.Customer, ne.To = d.Customer, d.ID
	se, err := s.sealEvent(ctx, ne, false)
	if err != nil {
		return nil, err
	}
	if err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := s.insertEvent(ctx, tx, se, firstDelay); err != nil {
			return fmt.Errorf("store test event: %w", err)
		}
		return s.audit(ctx, tx, tenantID, "destination.test", d.ID)
	}); err != nil {
		return nil, err
	}
	return s.read.Event(ctx, tenantID, se.in.Event.ID)
}
