package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice"
)

const sourceColumns = `id, tenant_id, name, verification, credentials, event_type_path, event_id_path,
	subject_paths, allowed_ips, rate_limit_per_second, payload_retention_ms, enabled, created_at, updated_at`

// verificationJSON is a verification rule as stored, less its secrets.
type verificationJSON struct {
	Type      string `json:"type"`
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Username  string `json:"username,omitempty"`
}

// credentialsJSON is a verification rule's secret material, stored apart.
type credentialsJSON struct {
	Secret   string `json:"secret,omitempty"`
	Password string `json:"password,omitempty"`
}

type subjectPathJSON struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

// sourceRow holds a source's columns in their stored form.
type sourceRow struct {
	s                             sluice.Source
	verification                  string
	credentials                   []byte // sealed JSON
	subjectPaths, allowedIPs      string
	retentionMS, created, updated int64
}

// encodeSource turns src into its row, sealing its credentials.
func (s *Store) encodeSource(ctx context.Context, src *sluice.Source) (*sourceRow, error) {
	r, err := encodeSourceColumns(src)
	if err != nil {
		return nil, err
	}
	v := src.Verification
	creds, err := json.Marshal(credentialsJSON{Secret: v.Secret, Password: v.Password})
	if err != nil {
		return nil, fmt.Errorf("encode source %s: %w", src.ID, err)
	}
	if r.credentials, err = s.sealFor(ctx, src.TenantID, creds, "sources.credentials", src.ID); err != nil {
		return nil, err
	}
	return r, nil
}

// encodeSourceColumns encodes every column but the credentials.
func encodeSourceColumns(s *sluice.Source) (*sourceRow, error) {
	v := s.Verification
	r := &sourceRow{s: *s, retentionMS: s.PayloadRetention.Milliseconds(), created: ms(s.CreatedAt), updated: ms(s.UpdatedAt)}
	subjects := make([]subjectPathJSON, len(s.SubjectPaths))
	for i, p := range s.SubjectPaths {
		subjects[i] = subjectPathJSON(p)
	}
	ips := make([]string, len(s.AllowedIPs))
	for i, p := range s.AllowedIPs {
		ips[i] = p.String()
	}
	for _, f := range []struct {
		dst *string
		v   any
	}{
		{&r.verification, verificationJSON{Type: v.Type, Header: v.Header, Algorithm: v.Algorithm,
			Encoding: v.Encoding, Prefix: v.Prefix, Username: v.Username}},
		{&r.subjectPaths, subjects},
		{&r.allowedIPs, ips},
	} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("encode source %s: %w", s.ID, err)
		}
		*f.dst = string(b)
	}
	return r, nil
}

// targets returns scan targets in sourceColumns order.
func (r *sourceRow) targets() []any {
	s := &r.s
	return []any{&s.ID, &s.TenantID, &s.Name, &r.verification, &r.credentials, &s.EventTypePath, &s.EventIDPath,
		&r.subjectPaths, &r.allowedIPs, &s.RateLimitPerSecond, &r.retentionMS, &s.Enabled, &r.created, &r.updated}
}

// decode opens the credentials and decodes the other columns.
func (r *sourceRow) decode(ctx context.Context, st *Store) (*sluice.Source, error) {
	s := r.s
	creds, err := st.openFor(ctx, s.TenantID, r.credentials, "sources.credentials", s.ID)
	if err != nil {
		return nil, err
	}
	var (
		v        verificationJSON
		c        credentialsJSON
		subjects []subjectPathJSON
		ips      []string
	)
	for _, f := range []struct {
		src string
		dst any
	}{{r.verification, &v}, {string(creds), &c}, {r.subjectPaths, &subjects}, {r.allowedIPs, &ips}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("decode source %s: %w", s.ID, err)
		}
	}
	s.Verification = sluice.Verification{Type: v.Type, Secret: c.Secret, Header: v.Header, Algorithm: v.Algorithm,
		Encoding: v.Encoding, Prefix: v.Prefix, Username: v.Username, Password: c.Password}
	for _, p := range subjects {
		s.SubjectPaths = append(s.SubjectPaths, sluice.SubjectPath(p))
	}
	for _, ip := range ips {
		p, err := netip.ParsePrefix(ip)
		if err != nil {
			return nil, fmt.Errorf("decode allowed ips of source %s: %w", s.ID, err)
		}
		s.AllowedIPs = append(s.AllowedIPs, p)
	}
	s.PayloadRetention = time.Duration(r.retentionMS) * time.Millisecond
	s.CreatedAt, s.UpdatedAt = fromMS(r.created), fromMS(r.updated)
	return &s, nil
}

// scanSource returns a scan function for source rows read in ctx.
func (s *Store) scanSource(ctx context.Context) func(scanner) (*sluice.Source, error) {
	return func(row scanner) (*sluice.Source, error) {
		var r sourceRow
		if err := row.Scan(r.targets()...); err != nil {
			return nil, err
		}
		return r.decode(ctx, s)
	}
}

// CreateSource stores src.
func (s *Store) CreateSource(ctx context.Context, src *sluice.Source) error {
	now := s.now()
	src.CreatedAt, src.UpdatedAt = now, now
	r, err := s.encodeSource(ctx, src)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sources (`+sourceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.values()...)
		if err != nil {
			return fmt.Errorf("insert source: %w", err)
		}
		return s.audit(ctx, tx, src.TenantID, "source.create", src.ID)
	})
}

// values returns the row's values in sourceColumns order.
func (r *sourceRow) values() []any {
	s := &r.s
	return []any{s.ID, s.TenantID, s.Name, r.verification, r.credentials, s.EventTypePath, s.EventIDPath,
		r.subjectPaths, r.allowedIPs, s.RateLimitPerSecond, r.retentionMS, s.Enabled, r.created, r.updated}
}

// Source returns one of a tenant's sources or ENOTFOUND.
func (s *Store) Source(ctx context.Context, tenantID, id string) (*sluice.Source, error) {
	src, err := s.scanSource(ctx)(s.readDB.QueryRowContext(ctx,
		`SELECT `+sourceColumns+` FROM sources WHERE id = ? AND tenant_id = ?`, id, tenantID))
	if err != nil {
		return nil, notFound(err, "source")
	}
	return src, nil
}

// IngestSource returns a source by id alone, or ENOTFOUND.
func (s *Store) IngestSource(ctx context.Context, id string) (*sluice.Source, error) {
	src, err := s.scanSource(ctx)(s.readDB.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "source")
	}
	return src, nil
}

// Sources lists a tenant's sources, newest first.
func (s *Store) Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Source, string, error) {
	return listPage(ctx, s.readDB, "sources", `SELECT `+sourceColumns+` FROM sources WHERE tenant_id = ?`,
		[]any{tenantID}, page, s.scanSource(ctx), func(s *sluice.Source) string { return s.ID })
}

// UpdateSource stores every field of src; ENOTFOUND if it is gone.
func (s *Store) UpdateSource(ctx context.Context, src *sluice.Source) error {
	src.UpdatedAt = s.now()
	r, err := s.encodeSource(ctx, src)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE sources SET name = ?, verification = ?, credentials = ?,
			event_type_path = ?, event_id_path = ?, subject_paths = ?, allowed_ips = ?, rate_limit_per_second = ?,
			payload_retention_ms = ?, enabled = ?, updated_at = ? WHERE id = ? AND tenant_id = ?`,
			src.Name, r.verification, r.credentials, src.EventTypePath, src.EventIDPath, r.subjectPaths, r.allowedIPs,
			src.RateLimitPerSecond, r.retentionMS, src.Enabled, r.updated, src.ID, src.TenantID)
		if err != nil {
			return fmt.Errorf("update source: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "source not found")
		}
		return s.audit(ctx, tx, src.TenantID, "source.update", src.ID)
	})
}

// DeleteSource removes a source; its events stay.
func (s *Store) DeleteSource(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sources WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return fmt.Errorf("delete source: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "source not found")
		}
		return s.audit(ctx, tx, tenantID, "source.delete", id)
	})
}
