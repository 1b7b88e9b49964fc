package api

import (
	"bytes"
	"context"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/signature"
)

// The API's rules for sources and destinations, for the dashboard to
// apply to its forms: each takes the JSON body the API takes and refuses
// what the API refuses, with the same messages. None stores anything.

// RuleStore is what checking a destination reads; sluice.Store has it.
type RuleStore interface {
	sluice.DestinationLister
	Source(ctx context.Context, tenantID, id string) (*sluice.Source, error)
}

// NewSource is the source POST /v1/sources would create from body, not
// yet stored.
func NewSource(tenantID string, body []byte) (*sluice.Source, error) {
	var in sourceInput
	if err := decodeJSONFrom(bytes.NewReader(body), &in); err != nil {
		return nil, err
	}
	return newSource(tenantID, &in)
}

// ChangeSource applies body, as PATCH /v1/sources/{id} would, to s, not
// yet stored.
func ChangeSource(s *sluice.Source, body []byte) error {
	var in sourceInput
	if err := decodeJSONFrom(bytes.NewReader(body), &in); err != nil {
		return err
	}
	return in.apply(s)
}

// NewDestination is the destination POST /v1/destinations would create
// from body, with a new secret, not yet stored. policy is the gateway's,
// with the hosts the request reached it by counted as its own.
func NewDestination(ctx context.Context, st RuleStore, resolver safehttp.Resolver, policy safehttp.Policy,
	tenantID string, body []byte) (*sluice.Destination, error) {
	var in destinationInput
	if err := decodeJSONFrom(bytes.NewReader(body), &in); err != nil {
		return nil, err
	}
	d, err := newDestination(ctx, st, resolver, policy, tenantID, &in)
	if err != nil {
		return nil, err
	}
	if d.Secret == "" {
		d.Secret = signature.NewSecret()
	}
	return d, nil
}

// ChangeDestination applies body, as PATCH /v1/destinations/{id} would,
// to d, not yet stored.
func ChangeDestination(ctx context.Context, st RuleStore, resolver safehttp.Resolver, policy safehttp.Policy,
	d *sluice.Destination, body []byte) error {
	var in destinationInput
	if err := decodeJSONFrom(bytes.NewReader(body), &in); err != nil {
		return err
	}
	return changeDestination(ctx, st, resolver, policy, &in, d)
}

// SecretReader is what reading a destination's secret needs; sluice.Store
// has it.
type SecretReader interface {
	Destination(ctx context.Context, tenantID, id string) (*sluice.Destination, error)
	RecordAudit(ctx context.Context, e *sluice.AuditEntry) error
}

// ReadSecret reads a destination's signing secret for key, as GET
// /v1/destinations/{id}/secret does: admin only, and audited as
// destination.secret_read. A read that cannot be audited does not happen.
func ReadSecret(ctx context.Context, st SecretReader, key *sluice.APIKey, id string) (string, error) {
	if err := key.RequireAdmin(); err != nil {
		return "", err
	}
	d, err := st.Destination(ctx, key.TenantID, id)
	if err != nil {
		return "", err
	}
	return RevealSecret(ctx, st, sluice.Actor{TenantID: key.TenantID, KeyID: key.ID}, d)
}

// AuditRecorder records audit entries; sluice.Store has it.
type AuditRecorder interface {
	RecordAudit(ctx context.Context, e *sluice.AuditEntry) error
}

// RevealSecret returns d's signing secret to actor, audited as
// destination.secret_read under actor's key id (a key, or a customer's
// portal session), as ReadSecret audits it. It does not authorise: the
// caller has found d through actor's own rules (ReadSecret: an admin key
// of d's tenant; the portal: a session scoped to d's customer).
// EFORBIDDEN when actor is not of d's tenant; a read that cannot be
// audited does not happen.
func RevealSecret(ctx context.Context, rec AuditRecorder, actor sluice.Actor, d *sluice.Destination) (string, error) {
	if actor.TenantID != d.TenantID || actor.KeyID == "" {
		return "", sluice.Errorf(sluice.EFORBIDDEN, "not allowed to read this secret")
	}
	if err := rec.RecordAudit(ctx, &sluice.AuditEntry{TenantID: d.TenantID, ActorKeyID: actor.KeyID,
		Action: "destination.secret_read", ResourceID: d.ID}); err != nil {
		return "", err
	}
	return d.Secret, nil
}
