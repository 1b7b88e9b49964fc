package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// Pseudonym returns the record of a token the tenant's destination was
// sent, with its subject's sealed key: ENOTFOUND when there is none.
func (o *Ops) Pseudonym(ctx context.Context, tenantID, destinationID, token string) (*engine.PseudonymRow, error) {
	r := &engine.PseudonymRow{DestinationID: destinationID, Token: token}
	err := o.Conn.QueryRow(ctx, `SELECT p.hash, p.key_id, p.sealed_subject, sk.sealed_key
		FROM pseudonyms p
		JOIN subject_keys sk ON sk.tenant_id = p.tenant_id AND sk.hash = p.hash AND sk.key_id = p.key_id
		WHERE p.tenant_id = $1 AND p.destination_id = $2 AND p.token = $3`, tenantID, destinationID, token).
		Scan(&r.Hash, &r.KeyID, &r.SealedSubject, &r.SealedSubjectKey)
	if err := notFound(err, "pseudonym"); err != nil {
		return nil, err
	}
	return r, nil
}

// InsertSubjectKeys stores new keys of subjects, created at.
func (o *Ops) InsertSubjectKeys(ctx context.Context, tenantID string, keys []engine.SubjectKeyRow, at time.Time) error {
	return o.insertSubjectKeys(ctx, tenantID, keys, at)
}

// InsertPseudonyms records tokens the tenant's destinations were sent,
// leaving those recorded already as they are: ENOTFOUND (the foreign key)
// when a row's subject key is gone.
func (o *Ops) InsertPseudonyms(ctx context.Context, tenantID string, rows []engine.PseudonymRow, at time.Time) error {
	for _, r := range rows {
		if _, err := o.Conn.Exec(ctx, `INSERT INTO pseudonyms
			(tenant_id, destination_id, token, hash, key_id, sealed_subject, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, destination_id, token) DO NOTHING`,
			tenantID, r.DestinationID, r.Token, r.Hash, r.KeyID, r.SealedSubject, MS(at)); err != nil {
			return fmt.Errorf("insert pseudonym: %w", err)
		}
	}
	return nil
}
