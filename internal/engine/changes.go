package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	return []auditField{
		field("name", d.Name),
		field("kind", d.Kind),
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
	return []auditField{
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
	}
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
	}
}

// keyFields are an API key's fields; its token is never among them.
func keyFields(k *sluice.APIKey) []auditField {
	return []auditField{
		field("name", k.Name),
		field("role", string(k.Role)),
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

// changes returns what changed from before to after, two lists of the same
// function's fields: every field whose value differs. A nil before is a
// creation (each field set, from nil), a nil after a deletion (each field
// set, to nil). Sensitive values are fingerprinted under the tenant's key.
func (s *Store) changes(ctx context.Context, tenantID string, before, after []auditField) ([]sluice.Change, error) {
	fp := fingerprinter{s: s, tenantID: tenantID}
	n := max(len(before), len(after))
	var out []sluice.Change
	for i := range n {
		var old, cur *auditField
		if before != nil {
			old = &before[i]
		}
		if after != nil {
			cur = &after[i]
		}
		var name string
		var oldJSON, newJSON []byte
		var err error
		if old != nil {
			name = old.name
			if oldJSON, err = encodeField(old); err != nil {
				return nil, err
			}
		}
		if cur != nil {
			name = cur.name
			if newJSON, err = encodeField(cur); err != nil {
				return nil, err
			}
		}
		if old != nil && cur != nil && bytes.Equal(oldJSON, newJSON) {
			continue
		}
		if (old == nil || cur == nil) && string(oldJSON)+string(newJSON) == "null" {
			continue // created or deleted, and not set
		}
		c := sluice.Change{Field: name}
		if old != nil {
			if c.Old, err = fp.value(ctx, old, oldJSON); err != nil {
				return nil, err
			}
		}
		if cur != nil {
			if c.New, err = fp.value(ctx, cur, newJSON); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
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
