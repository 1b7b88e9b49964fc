package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

// What an audit entry of a configuration change records: the fields it
// changed (sluice.Change), computed here from the resource before and
// after, in the change's transaction, so that every caller (API,
// dashboard, CLI) records the same.
//
// Each resource type lists its fields in one function below, one line a
// field, in the API's names and JSON values. A field added to a resource
// needs its line there. A secret, a URL, a password or any other
// credential MUST be listed with secretField: it is recorded only as a
// fingerprint, never as its value.

// auditField is one field of a resource as audit entries show it.
type auditField struct {
	name string
	// value is a JSON value: string, int, bool, []string, a slice of
	// maps, or nil. Of a sensitive field, the string the fingerprint is
	// taken of.
	value     any
	sensitive bool
}

// field is a field shown as it is.
func field(name string, value any) auditField { return auditField{name: name, value: value} }

// secretField is a field shown only as its fingerprint: a secret, a URL,
// a credential.
func secretField(name, value string) auditField {
	return auditField{name: name, value: value, sensitive: true}
}

// destinationFields are a destination's configuration fields. Its health
// is not configuration; its enabled switch and disabled reason are.
func destinationFields(d *sluice.Destination) []auditField {
	fields := []auditField{
		field("name", d.Name),
		field("kind", d.Kind),
		field("customer", d.Customer),
		secretField("url", d.URL),
		field("event_types", d.EventTypes),
		field("source_ids", d.SourceIDs),
		field("fields", d.Fields),
		field("rate_limit_per_second", d.RateLimitPerSecond),
		field("enabled", d.Enabled),
		field("disabled_reason", d.DisabledReason),
		secretField("secret", d.Secret),
		secretField("previous_secret", d.PreviousSecret),
		field("previous_secret_until", timeValue(d.PreviousSecretUntil)),
		field("delivery", d.Delivery),
		field("fetch_ttl_seconds", int(d.FetchTTL/time.Second)),
		field("pseudonymize", d.Pseudonymize),
		field("personal_data.allowed", d.PersonalData.Allowed),
		field("personal_data.purpose", d.PersonalData.Purpose),
		field("personal_data.lawful_basis", d.PersonalData.LawfulBasis),
	}
	fields = append(fields, processingFields(d.Processing)...)
	// A header's value may be a credential: each shows as a fingerprint.
	for _, name := range slices.Sorted(maps.Keys(d.Headers)) {
		fields = append(fields, secretField("headers."+name, d.Headers[name]))
	}
	return append(fields,
		field("auth.type", d.Auth.Type),
		secretField("auth.username", d.Auth.Username),
		secretField("auth.password", d.Auth.Password),
		secretField("auth.token", d.Auth.Token),
		secretField("client_certificate.cert_pem", d.ClientCert.CertPEM),
		secretField("client_certificate.key_pem", d.ClientCert.KeyPEM),
	)
}

// processingFields are a flow's records of processing, on destinations
// and sources.
func processingFields(p sluice.Processing) []auditField {
	return []auditField{
		field("purpose", p.Purpose),
		field("lawful_basis", p.LawfulBasis),
		field("owner", p.Owner),
		field("region", p.Region),
	}
}

// sourceFields are a source's configuration fields.
func sourceFields(src *sluice.Source) []auditField {
	v := &src.Verification
	paths := make([]map[string]string, len(src.SubjectPaths))
	for i, p := range src.SubjectPaths {
		paths[i] = map[string]string{"path": p.Path, "type": p.Type}
	}
	ips := make([]string, len(src.AllowedIPs))
	for i, p := range src.AllowedIPs {
		ips[i] = p.String()
	}
	return append([]auditField{
		field("name", src.Name),
		field("verification.type", v.Type),
		secretField("verification.secret", v.Secret),
		field("verification.header", v.Header),
		field("verification.algorithm", v.Algorithm),
		field("verification.encoding", v.Encoding),
		field("verification.prefix", v.Prefix),
		secretField("verification.username", v.Username),
		secretField("verification.password", v.Password),
		field("event_type_path", src.EventTypePath),
		field("event_id_path", src.EventIDPath),
		field("subject_paths", paths),
		field("allowed_ips", ips),
		field("rate_limit_per_second", src.RateLimitPerSecond),
		field("payload_retention", durationValue(src.PayloadRetention)),
		field("payload_storage", string(src.PayloadStorage)),
		field("enabled", src.Enabled),
	}, processingFields(src.Processing)...)
}

// tenantFields are a tenant's name and retention overrides.
func tenantFields(t *sluice.Tenant) []auditField {
	r := &t.Retention
	return []auditField{
		field("name", t.Name),
		field("payload_storage", string(r.PayloadStorage)),
		field("undelivered_retention", durationValue(r.Undelivered)),
		field("payload_retention", durationValue(r.Delivered)),
		field("metadata_retention", durationValue(r.Metadata)),
		field("audit_retention", durationValue(r.Audit)),
		field("restricted_data.paths", t.Restricted.Paths),
		field("restricted_data.subject_types", t.Restricted.SubjectTypes),
	}
}

// keyFields are an API key's fields; its token is never among them.
func keyFields(k *sluice.APIKey) []auditField {
	return []auditField{
		field("name", k.Name),
		field("role", string(k.Role)),
		field("expires_at", timeValue(k.ExpiresAt)),
	}
}

// timeValue is t in RFC 3339, or nil when it is zero.
func timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// durationValue is d as the API writes durations ("720h0m0s"), or nil
// when it is zero (not set).
func durationValue(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return d.String()
}

// changes returns what changed from before to after, two lists of one
// resource type's fields: every field whose value differs, matched by
// name (a field only one list has, such as a header added, is nil in the
// other), in after's order, then the fields only before had. A nil
// before is a creation (each field set, from nil), a nil after a
// deletion (each field set, to nil). Sensitive values are fingerprinted
// under the tenant's key.
func (s *Store) changes(ctx context.Context, tenantID string, before, after []auditField) ([]sluice.Change, error) {
	fp := fingerprinter{s: s, tenantID: tenantID}
	old := make(map[string]*auditField, len(before))
	for i := range before {
		old[before[i].name] = &before[i]
	}
	var out []sluice.Change
	add := func(o, n *auditField) error {
		c, changed, err := fp.change(ctx, o, n)
		if changed {
			out = append(out, c)
		}
		return err
	}
	seen := make(map[string]bool, len(after))
	for i := range after {
		seen[after[i].name] = true
		if err := add(old[after[i].name], &after[i]); err != nil {
			return nil, err
		}
	}
	for i := range before {
		if !seen[before[i].name] {
			if err := add(&before[i], nil); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// change compares a field before (o) and after (n), either nil where the
// resource did not have it, and returns its change, if it changed.
func (f *fingerprinter) change(ctx context.Context, o, n *auditField) (sluice.Change, bool, error) {
	var c sluice.Change
	oldJSON, newJSON := []byte("null"), []byte("null")
	var err error
	if o != nil {
		c.Field = o.name
		if oldJSON, err = encodeField(o); err != nil {
			return c, false, err
		}
	}
	if n != nil {
		c.Field = n.name
		if newJSON, err = encodeField(n); err != nil {
			return c, false, err
		}
	}
	if bytes.Equal(oldJSON, newJSON) {
		return c, false, nil // unchanged, or created or deleted and not set
	}
	if o != nil {
		if c.Old, err = f.value(ctx, o, oldJSON); err != nil {
			return c, false, err
		}
	}
	if n != nil {
		if c.New, err = f.value(ctx, n, newJSON); err != nil {
			return c, false, err
		}
	}
	return c, true, nil
}

// encodeField returns f's value in JSON, a value that is not set ("", 0,
// an empty list) as null, as the API shows such fields: a list read back
// empty must not show as changed, and a rate limit set where there was
// none reads null to 10. false is a value (a destination created
// disabled).
func encodeField(f *auditField) ([]byte, error) {
	b, err := json.Marshal(f.value)
	if err != nil {
		return nil, fmt.Errorf("audit field %s: %w", f.name, err)
	}
	switch string(b) {
	case `""`, "0", "[]", "{}":
		return []byte("null"), nil
	}
	return b, nil
}

// fingerprinter fingerprints a tenant's sensitive values, reading the
// tenant's key at the first.
type fingerprinter struct {
	s        *Store
	tenantID string
	key      []byte
}

// value is what a change shows of f, whose value encodes as raw: a
// sensitive value's fingerprint (nil when empty), any other value as it
// is, decoded from raw so that it reads as it will from the store.
func (f *fingerprinter) value(ctx context.Context, af *auditField, raw []byte) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if af.sensitive {
		plain, _ := af.value.(string)
		if f.key == nil {
			sk, err := f.s.keys.SubjectKey(ctx, f.tenantID)
			if err != nil {
				return nil, fmt.Errorf("fingerprint key: %w", err)
			}
			f.key = fingerprintKey(sk)
		}
		return fingerprint(f.key, plain), nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("audit field %s: %w", af.name, err)
	}
	return v, nil
}

// fingerprintKey derives the key of a tenant's audit fingerprints from its
// subject key (seal.DataKey.SubjectKey): secret, sealed under the master
// key, the same across data key and master key rotations, and the
// tenant's own, so that the audit log alone (a backup, an export) does not
// let anyone test guesses of a short value against a fingerprint, and two
// tenants' fingerprints of the same URL differ. The label keeps it apart
// from the subject key's other uses.
func fingerprintKey(subjectKey []byte) []byte {
	mac := hmac.New(sha256.New, subjectKey)
	mac.Write([]byte("sluice audit fingerprint v1"))
	return mac.Sum(nil)
}

// fingerprint is what the audit log shows of a sensitive value:
// sluice.FingerprintPrefix and the first 16 hex digits (64 bits) of its
// HMAC-SHA256 under key. The same value always shows the same
// fingerprint, so a value changed back is seen to be.
func fingerprint(key []byte, value string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(value))
	return sluice.FingerprintPrefix + hex.EncodeToString(mac.Sum(nil))[:16]
}
