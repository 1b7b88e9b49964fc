package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// sourceColumns are the sources table's columns in sourceRow.targets'
// order.
const sourceColumns = `id, tenant_id, name, verification, credentials, event_type_path, event_id_path,
	subject_paths, allowed_ips, rate_limit_per_second, payload_retention_ms, payload_storage, processing, enabled,
	created_at, updated_at`

// verificationJSON is a verification rule as stored, less its secrets.
type verificationJSON struct {
	Type      string `json:"type"`
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Username  string `json:"username,omitempty"`
}

type subjectPathJSON struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

// sourceArgs are a source's column values after id and tenant_id, in
// sourceColumns' order but for created_at, which only an insert writes.
func sourceArgs(r *engine.SourceRow) ([]any, error) {
	v := r.Verification
	subjects := make([]subjectPathJSON, len(r.SubjectPaths))
	for i, p := range r.SubjectPaths {
		subjects[i] = subjectPathJSON(p)
	}
	ips := make([]string, len(r.AllowedIPs))
	for i, p := range r.AllowedIPs {
		ips[i] = p.String()
	}
	var texts [3]string
	for i, x := range []any{verificationJSON{Type: v.Type, Header: v.Header, Algorithm: v.Algorithm,
		Encoding: v.Encoding, Prefix: v.Prefix, Username: v.Username}, subjects, ips} {
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("encode source %s: %w", r.ID, err)
		}
		texts[i] = string(b)
	}
	processing, err := encodeProcessing(r.ID, r.Processing)
	if err != nil {
		return nil, err
	}
	return []any{r.Name, texts[0], r.SealedCredentials, r.EventTypePath, r.EventIDPath, texts[1], texts[2],
		r.RateLimitPerSecond, r.PayloadRetention.Milliseconds(), string(r.PayloadStorage), processing, r.Enabled,
		MS(r.UpdatedAt)}, nil
}

func scanSource(row Row) (*engine.SourceRow, error) {
	var (
		r                engine.SourceRow
		verification     string
		subjects, ips    string
		retentionMS      int64
		storage          string
		processing       string
		created, updated int64
	)
	if err := row.Scan(&r.ID, &r.TenantID, &r.Name, &verification, &r.SealedCredentials, &r.EventTypePath,
		&r.EventIDPath, &subjects, &ips, &r.RateLimitPerSecond, &retentionMS, &storage, &processing, &r.Enabled,
		&created, &updated); err != nil {
		return nil, err
	}
	var err error
	if r.Processing, err = decodeProcessing(r.ID, processing); err != nil {
		return nil, err
	}
	var (
		v     verificationJSON
		paths []subjectPathJSON
		cidrs []string
	)
	for _, f := range []struct {
		src string
		dst any
	}{{verification, &v}, {subjects, &paths}, {ips, &cidrs}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("decode source %s: %w", r.ID, err)
		}
	}
	r.Verification = sluice.Verification{Type: v.Type, Header: v.Header, Algorithm: v.Algorithm,
		Encoding: v.Encoding, Prefix: v.Prefix, Username: v.Username}
	for _, p := range paths {
		r.SubjectPaths = append(r.SubjectPaths, sluice.SubjectPath(p))
	}
	for _, ip := range cidrs {
		p, err := netip.ParsePrefix(ip)
		if err != nil {
			return nil, fmt.Errorf("decode allowed ips of source %s: %w", r.ID, err)
		}
		r.AllowedIPs = append(r.AllowedIPs, p)
	}
	r.PayloadRetention = time.Duration(retentionMS) * time.Millisecond
	r.PayloadStorage = sluice.PayloadStorage(storage)
	r.CreatedAt, r.UpdatedAt = FromMS(created), FromMS(updated)
	return &r, nil
}

// InsertSource stores a source.
func (o *Ops) InsertSource(ctx context.Context, r *engine.SourceRow) error {
	args, err := sourceArgs(r)
	if err != nil {
		return err
	}
	_, err = o.Conn.Exec(ctx, `INSERT INTO sources (`+sourceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		append([]any{r.ID, r.TenantID}, append(args, MS(r.CreatedAt))...)...)
	return err
}

// UpdateSource stores every field of a source but its time of creation.
func (o *Ops) UpdateSource(ctx context.Context, r *engine.SourceRow) error {
	args, err := sourceArgs(r)
	if err != nil {
		return err
	}
	return o.execOne(ctx, "source", `UPDATE sources SET name = $3, verification = $4, credentials = $5,
		event_type_path = $6, event_id_path = $7, subject_paths = $8, allowed_ips = $9, rate_limit_per_second = $10,
		payload_retention_ms = $11, payload_storage = $12, processing = $13, enabled = $14, updated_at = $15
		WHERE id = $1 AND tenant_id = $2`,
		append([]any{r.ID, r.TenantID}, args...)...)
}

// DeleteSource deletes one of the tenant's sources.
func (o *Ops) DeleteSource(ctx context.Context, tenantID, id string) error {
	return o.execOne(ctx, "source", `DELETE FROM sources WHERE id = $1 AND tenant_id = $2`, id, tenantID)
}

// Source returns one of the tenant's sources.
func (o *Ops) Source(ctx context.Context, tenantID, id string) (*engine.SourceRow, error) {
	r, err := scanSource(o.Conn.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	return r, notFound(err, "source")
}

// LockSource reads one of the tenant's sources to change it.
func (o *Ops) LockSource(ctx context.Context, tenantID, id string) (*engine.SourceRow, error) {
	r, err := scanSource(o.Conn.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1 AND tenant_id = $2`+
		o.lock("FOR NO KEY UPDATE"), id, tenantID))
	return r, notFound(err, "source")
}

// SourceByID returns a source whatever its tenant.
func (o *Ops) SourceByID(ctx context.Context, id string) (*engine.SourceRow, error) {
	r, err := scanSource(o.Conn.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1`, id))
	return r, notFound(err, "source")
}

// Sources lists the tenant's sources, newest first.
func (o *Ops) Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*engine.SourceRow, string, error) {
	return listPage(ctx, o.Conn, "sources", `SELECT `+sourceColumns+` FROM sources WHERE tenant_id = $1`,
		[]any{tenantID}, page, scanSource, func(r *engine.SourceRow) string { return r.ID })
}

// DestinationColumns are the destinations table's columns in
// ScanDestination's order: the configuration, then the health that
// recorded attempts keep, then the kind and a listen destination's
// keep-alive, which an insert writes and an update leaves.
const DestinationColumns = destinationConfigColumns + `, failures, failing_since, paused_until, kind, listen_until`

// destinationConfigColumns are the columns of a destination's
// configuration, which an insert writes.
const destinationConfigColumns = `id, tenant_id, name, url, event_types, source_ids, fields,
	rate_limit_per_second, secret, previous_secret, previous_secret_until, enabled, disabled_reason,
	options, credentials, customer, created_at, updated_at`

// destinationArgs are a destination's configuration values after id and
// tenant_id, in destinationConfigColumns' order but for created_at, which
// only an insert writes.
func destinationArgs(r *engine.DestinationRow) ([]any, error) {
	var types, sources []byte
	var fields *string
	var err error
	if types, err = json.Marshal(nonNil(r.EventTypes)); err != nil {
		return nil, fmt.Errorf("encode event types of %s: %w", r.ID, err)
	}
	if sources, err = json.Marshal(nonNil(r.SourceIDs)); err != nil {
		return nil, fmt.Errorf("encode source ids of %s: %w", r.ID, err)
	}
	if r.Fields != nil {
		b, err := json.Marshal(r.Fields)
		if err != nil {
			return nil, fmt.Errorf("encode fields of %s: %w", r.ID, err)
		}
		f := string(b)
		fields = &f
	}
	var previousUntil *int64
	if r.SealedPreviousSecret != nil {
		previousUntil = NullMS(r.PreviousSecretUntil)
	}
	options, err := encodeDestinationOptions(&r.Destination)
	if err != nil {
		return nil, err
	}
	return []any{r.Name, r.SealedURL, string(types), string(sources), fields, r.RateLimitPerSecond,
		r.SealedSecret, r.SealedPreviousSecret, previousUntil, r.Enabled, r.DisabledReason, options,
		r.SealedCredentials, r.Customer, MS(r.UpdatedAt)}, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// destinationScan is a destinations row as scanned, alone or as part of a
// wider row, before its columns are decoded.
type destinationScan struct {
	r                         engine.DestinationRow
	types, sources            string
	fields                    *string
	options                   string
	previousUntil             *int64
	created, updated          int64
	failingSince, pausedUntil *int64
	listenUntil               *int64
}

// targets returns the scan targets of DestinationColumns.
func (s *destinationScan) targets() []any {
	r := &s.r
	return []any{&r.ID, &r.TenantID, &r.Name, &r.SealedURL, &s.types, &s.sources, &s.fields,
		&r.RateLimitPerSecond, &r.SealedSecret, &r.SealedPreviousSecret, &s.previousUntil, &r.Enabled, &r.DisabledReason,
		&s.options, &r.SealedCredentials, &r.Customer, &s.created, &s.updated, &r.Failures, &s.failingSince, &s.pausedUntil, &r.Kind, &s.listenUntil}
}

// row decodes the scanned columns.
func (s *destinationScan) row() (*engine.DestinationRow, error) {
	r := s.r
	if err := json.Unmarshal([]byte(s.types), &r.EventTypes); err != nil {
		return nil, fmt.Errorf("decode event types of %s: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(s.sources), &r.SourceIDs); err != nil {
		return nil, fmt.Errorf("decode source ids of %s: %w", r.ID, err)
	}
	if s.fields != nil {
		if err := json.Unmarshal([]byte(*s.fields), &r.Fields); err != nil {
			return nil, fmt.Errorf("decode fields of %s: %w", r.ID, err)
		}
	}
	if r.SealedPreviousSecret != nil {
		r.PreviousSecretUntil = FromNullMS(s.previousUntil)
	}
	if err := decodeDestinationOptions(s.options, &r.Destination); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = FromMS(s.created), FromMS(s.updated)
	r.FailingSince, r.PausedUntil = FromNullMS(s.failingSince), FromNullMS(s.pausedUntil)
	r.ListenUntil = FromNullMS(s.listenUntil)
	return &r, nil
}

func scanDestination(row Row) (*engine.DestinationRow, error) {
	var s destinationScan
	if err := row.Scan(s.targets()...); err != nil {
		return nil, err
	}
	return s.row()
}

// InsertDestination stores a destination, its health clean.
func (o *Ops) InsertDestination(ctx context.Context, r *engine.DestinationRow) error {
	args, err := destinationArgs(r)
	if err != nil {
		return err
	}
	kind := r.Kind
	if kind == "" {
		kind = sluice.KindHTTP
	}
	o.changed(r.TenantID, r.ID)
	_, err = o.Conn.Exec(ctx, `INSERT INTO destinations (`+destinationConfigColumns+`, kind, listen_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		append([]any{r.ID, r.TenantID}, append(args, MS(r.CreatedAt), kind, NullMS(r.ListenUntil))...)...)
	return err
}

// KeepListening sets one of the tenant's listen destinations' ListenUntil.
func (o *Ops) KeepListening(ctx context.Context, tenantID, id string, until time.Time) error {
	o.changed(tenantID, id)
	return o.execOne(ctx, "listen destination", `UPDATE destinations SET listen_until = $3
		WHERE id = $1 AND tenant_id = $2 AND kind = 'listen'`, id, tenantID, MS(until))
}

// DeleteIdleListeners deletes up to limit listen destinations whose
// ListenUntil is at or before now, passing over those another transaction
// holds, and returns them. The condition is checked again on the rows
// deleted: one kept alive meanwhile stays.
func (o *Ops) DeleteIdleListeners(ctx context.Context, now time.Time, limit int) ([]engine.DestinationRef, error) {
	gone, err := queryAll(ctx, o.Conn, "listen destinations", `DELETE FROM destinations WHERE id IN (
			SELECT id FROM destinations WHERE kind = 'listen' AND listen_until <= $1 LIMIT $2`+
		o.lock("FOR UPDATE SKIP LOCKED")+`)
		AND kind = 'listen' AND listen_until <= $1 RETURNING tenant_id, id`,
		[]any{MS(now), limit}, func(row Row) (engine.DestinationRef, error) {
			var d engine.DestinationRef
			err := row.Scan(&d.TenantID, &d.ID)
			return d, err
		})
	for _, d := range gone {
		o.changed(d.TenantID, d.ID)
	}
	return gone, err
}

// UpdateDestination stores a destination's configuration.
func (o *Ops) UpdateDestination(ctx context.Context, r *engine.DestinationRow) error {
	args, err := destinationArgs(r)
	if err != nil {
		return err
	}
	o.changed(r.TenantID, r.ID)
	return o.execOne(ctx, "destination", `UPDATE destinations SET name = $3, url = $4, event_types = $5,
		source_ids = $6, fields = $7, rate_limit_per_second = $8, secret = $9, previous_secret = $10,
		previous_secret_until = $11, enabled = $12, disabled_reason = $13, options = $14, credentials = $15,
		customer = $16, updated_at = $17 WHERE id = $1 AND tenant_id = $2`, append([]any{r.ID, r.TenantID}, args...)...)
}

// DeleteDestination deletes one of the tenant's destinations.
func (o *Ops) DeleteDestination(ctx context.Context, tenantID, id string) error {
	o.changed(tenantID, id)
	return o.execOne(ctx, "destination", `DELETE FROM destinations WHERE id = $1 AND tenant_id = $2`, id, tenantID)
}

// Destination returns one of the tenant's destinations.
func (o *Ops) Destination(ctx context.Context, tenantID, id string) (*engine.DestinationRow, error) {
	return o.destination(ctx, tenantID, id, "")
}

// LockDestination reads one of the tenant's destinations to change it.
func (o *Ops) LockDestination(ctx context.Context, tenantID, id string) (*engine.DestinationRow, error) {
	return o.destination(ctx, tenantID, id, "FOR NO KEY UPDATE")
}

// ShareDestination reads one of the tenant's destinations and keeps it
// from being deleted until the transaction ends.
func (o *Ops) ShareDestination(ctx context.Context, tenantID, id string) (*engine.DestinationRow, error) {
	return o.destination(ctx, tenantID, id, "FOR KEY SHARE")
}

func (o *Ops) destination(ctx context.Context, tenantID, id, lock string) (*engine.DestinationRow, error) {
	r, err := scanDestination(o.Conn.QueryRow(ctx, `SELECT `+DestinationColumns+` FROM destinations
		WHERE id = $1 AND tenant_id = $2`+o.lock(lock), id, tenantID))
	return r, notFound(err, "destination")
}

// Destinations lists the tenant's destinations, newest first.
func (o *Ops) Destinations(ctx context.Context, tenantID string, page sluice.Page) ([]*engine.DestinationRow, string, error) {
	return listPage(ctx, o.Conn, "destinations", `SELECT `+DestinationColumns+` FROM destinations WHERE tenant_id = $1`,
		[]any{tenantID}, page, scanDestination, func(r *engine.DestinationRow) string { return r.ID })
}

// CustomerDestinations lists the destinations of one of the tenant's
// customers, newest first.
func (o *Ops) CustomerDestinations(ctx context.Context, tenantID, customer string, page sluice.Page) ([]*engine.DestinationRow, string, error) {
	return listPage(ctx, o.Conn, "destinations", `SELECT `+DestinationColumns+` FROM destinations
		WHERE tenant_id = $1 AND customer = $2 AND customer <> ''`,
		[]any{tenantID, customer}, page, scanDestination, func(r *engine.DestinationRow) string { return r.ID })
}

// Routes returns the tenant's destinations, by id, and keeps them from
// being deleted until the transaction ends.
func (o *Ops) Routes(ctx context.Context, tenantID string) ([]*engine.DestinationRow, error) {
	rows, err := o.Conn.Query(ctx, o.RoutesQuery(), tenantID)
	return ScanRoutes(rows, err)
}

// RoutesQuery is the statement of Routes, $1 the tenant, for a driver that
// sends it in a batch of its own; ScanRoutes reads its rows, err being the
// query's.
func (o *Ops) RoutesQuery() string {
	return `SELECT ` + DestinationColumns + ` FROM destinations WHERE tenant_id = $1 ORDER BY id` + o.lock("FOR KEY SHARE")
}

// ScanRoutes reads the rows of RoutesQuery.
func ScanRoutes(rows Rows, err error) ([]*engine.DestinationRow, error) {
	return collect(rows, err, "destinations", scanDestination)
}
