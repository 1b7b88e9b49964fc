package storekit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice"
)

// DestinationColumns are a destination's stored values that need encoding:
// its URL and secret sealed, its lists as JSON.
type DestinationColumns struct {
	URL, Secret           []byte  // sealed
	PreviousSecret        []byte  // sealed; nil (NULL) when there is none
	PreviousSecretUntil   *int64  // Unix milliseconds; nil (NULL) when there is none
	EventTypes, SourceIDs string  // JSON arrays
	Fields                *string // JSON array; nil (NULL) for the whole body
}

// EncodeDestination encodes d for its row.
func EncodeDestination(ctx context.Context, k *Keyring, d *sluice.Destination) (*DestinationColumns, error) {
	c := &DestinationColumns{}
	var err error
	if c.URL, err = k.Seal(ctx, d.TenantID, []byte(d.URL), "destinations.url", d.ID); err != nil {
		return nil, err
	}
	if c.Secret, err = k.Seal(ctx, d.TenantID, []byte(d.Secret), "destinations.secret", d.ID); err != nil {
		return nil, err
	}
	if d.PreviousSecret != "" {
		if c.PreviousSecret, err = k.Seal(ctx, d.TenantID, []byte(d.PreviousSecret), "destinations.previous_secret", d.ID); err != nil {
			return nil, err
		}
		until := d.PreviousSecretUntil.UnixMilli()
		c.PreviousSecretUntil = &until
	}
	if c.EventTypes, err = jsonText(nonNil(d.EventTypes)); err != nil {
		return nil, fmt.Errorf("encode event types of %s: %w", d.ID, err)
	}
	if c.SourceIDs, err = jsonText(nonNil(d.SourceIDs)); err != nil {
		return nil, fmt.Errorf("encode source ids of %s: %w", d.ID, err)
	}
	if d.Fields != nil {
		f, err := jsonText(d.Fields)
		if err != nil {
			return nil, fmt.Errorf("encode fields of %s: %w", d.ID, err)
		}
		c.Fields = &f
	}
	return c, nil
}

// DecodeDestination sets d's URL, secret and lists from its columns; d's
// ID and TenantID must be set.
func DecodeDestination(ctx context.Context, k *Keyring, d *sluice.Destination, c *DestinationColumns) error {
	url, err := k.Open(ctx, d.TenantID, c.URL, "destinations.url", d.ID)
	if err != nil {
		return err
	}
	secret, err := k.Open(ctx, d.TenantID, c.Secret, "destinations.secret", d.ID)
	if err != nil {
		return err
	}
	d.URL, d.Secret = string(url), string(secret)
	d.PreviousSecret, d.PreviousSecretUntil = "", time.Time{}
	if c.PreviousSecret != nil && c.PreviousSecretUntil != nil {
		prev, err := k.Open(ctx, d.TenantID, c.PreviousSecret, "destinations.previous_secret", d.ID)
		if err != nil {
			return err
		}
		d.PreviousSecret, d.PreviousSecretUntil = string(prev), fromMS(*c.PreviousSecretUntil)
	}
	if err := json.Unmarshal([]byte(c.EventTypes), &d.EventTypes); err != nil {
		return fmt.Errorf("decode event types of %s: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(c.SourceIDs), &d.SourceIDs); err != nil {
		return fmt.Errorf("decode source ids of %s: %w", d.ID, err)
	}
	d.Fields = nil
	if c.Fields != nil {
		if err := json.Unmarshal([]byte(*c.Fields), &d.Fields); err != nil {
			return fmt.Errorf("decode fields of %s: %w", d.ID, err)
		}
	}
	return nil
}

// SourceColumns are a source's stored values that need encoding: its
// verification rule less secrets as JSON, its secrets sealed together, and
// its lists as JSON.
type SourceColumns struct {
	Verification             string // JSON: type, header, algorithm, encoding, prefix, username
	Credentials              []byte // sealed JSON: secret, password
	SubjectPaths, AllowedIPs string // JSON arrays
	PayloadRetentionMS       int64
}

type verificationJSON struct {
	Type      string `json:"type"`
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Username  string `json:"username,omitempty"`
}

type credentialsJSON struct {
	Secret   string `json:"secret,omitempty"`
	Password string `json:"password,omitempty"`
}

type subjectPathJSON struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

// EncodeSource encodes s for its row.
func EncodeSource(ctx context.Context, k *Keyring, s *sluice.Source) (*SourceColumns, error) {
	v := s.Verification
	c := &SourceColumns{PayloadRetentionMS: s.PayloadRetention.Milliseconds()}
	subjects := make([]subjectPathJSON, len(s.SubjectPaths))
	for i, p := range s.SubjectPaths {
		subjects[i] = subjectPathJSON(p)
	}
	ips := make([]string, len(s.AllowedIPs))
	for i, p := range s.AllowedIPs {
		ips[i] = p.String()
	}
	creds, err := json.Marshal(credentialsJSON{Secret: v.Secret, Password: v.Password})
	if err != nil {
		return nil, fmt.Errorf("encode source %s: %w", s.ID, err)
	}
	if c.Credentials, err = k.Seal(ctx, s.TenantID, creds, "sources.credentials", s.ID); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		dst *string
		v   any
	}{
		{&c.Verification, verificationJSON{Type: v.Type, Header: v.Header, Algorithm: v.Algorithm,
			Encoding: v.Encoding, Prefix: v.Prefix, Username: v.Username}},
		{&c.SubjectPaths, subjects},
		{&c.AllowedIPs, ips},
	} {
		if *f.dst, err = jsonText(f.v); err != nil {
			return nil, fmt.Errorf("encode source %s: %w", s.ID, err)
		}
	}
	return c, nil
}

// DecodeSource sets s's verification, subject paths, allowed IPs and
// retention from its columns; s's ID and TenantID must be set.
func DecodeSource(ctx context.Context, k *Keyring, s *sluice.Source, c *SourceColumns) error {
	creds, err := k.Open(ctx, s.TenantID, c.Credentials, "sources.credentials", s.ID)
	if err != nil {
		return err
	}
	var (
		v        verificationJSON
		cr       credentialsJSON
		subjects []subjectPathJSON
		ips      []string
	)
	for _, f := range []struct {
		src string
		dst any
	}{{c.Verification, &v}, {string(creds), &cr}, {c.SubjectPaths, &subjects}, {c.AllowedIPs, &ips}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return fmt.Errorf("decode source %s: %w", s.ID, err)
		}
	}
	s.Verification = sluice.Verification{Type: v.Type, Secret: cr.Secret, Header: v.Header, Algorithm: v.Algorithm,
		Encoding: v.Encoding, Prefix: v.Prefix, Username: v.Username, Password: cr.Password}
	s.SubjectPaths, s.AllowedIPs = nil, nil
	for _, p := range subjects {
		s.SubjectPaths = append(s.SubjectPaths, sluice.SubjectPath(p))
	}
	for _, ip := range ips {
		p, err := netip.ParsePrefix(ip)
		if err != nil {
			return fmt.Errorf("decode allowed ips of source %s: %w", s.ID, err)
		}
		s.AllowedIPs = append(s.AllowedIPs, p)
	}
	s.PayloadRetention = time.Duration(c.PayloadRetentionMS) * time.Millisecond
	return nil
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
