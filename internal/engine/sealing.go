package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/subject"
)

// The columns sealed values are bound to (see seal.AAD): a value moved to
// another column or row does not open.
const (
	columnDestinationURL    = "destinations.url"
	columnDestinationSecret = "destinations.secret"
	columnPreviousSecret    = "destinations.previous_secret"
	columnDestinationCreds  = "destinations.credentials"
	columnSourceCredentials = "sources.credentials"
	columnPayloadBody       = "event_payloads.body"
	columnPayloadHeaders    = "event_payloads.headers"
)

// maxCachedSecrets bounds the destinations whose opened secrets are kept;
// when full the cache starts again empty.
const maxCachedSecrets = 10_000

// open opens a sealed value of the tenant. A value that does not
// authenticate is an error wrapping sluice.ErrIntegrity.
func (s *Store) open(ctx context.Context, tenantID string, sealed []byte, column, rowID string) ([]byte, error) {
	plain, err := s.keys.Open(ctx, tenantID, sealed, column, rowID)
	if errors.Is(err, seal.ErrIntegrity) {
		return nil, fmt.Errorf("%w: %w", sluice.ErrIntegrity, err)
	}
	return plain, err
}

// sealDestination returns d's row, its URL and secrets sealed.
func (s *Store) sealDestination(ctx context.Context, d *sluice.Destination) (*DestinationRow, error) {
	r := &DestinationRow{Destination: *d}
	r.URL, r.Secret, r.PreviousSecret = "", "", ""
	r.Headers, r.Auth, r.ClientCert = nil, sluice.DestinationAuth{}, sluice.ClientCertificate{}
	var err error
	if plain, ok, err := encodeDestinationCredentials(d); err != nil {
		return nil, err
	} else if ok {
		if r.SealedCredentials, err = s.keys.Seal(ctx, d.TenantID, plain, columnDestinationCreds, d.ID); err != nil {
			return nil, err
		}
	}
	if r.SealedURL, err = s.keys.Seal(ctx, d.TenantID, []byte(d.URL), columnDestinationURL, d.ID); err != nil {
		return nil, err
	}
	if r.SealedSecret, err = s.keys.Seal(ctx, d.TenantID, []byte(d.Secret), columnDestinationSecret, d.ID); err != nil {
		return nil, err
	}
	if d.PreviousSecret != "" {
		if r.SealedPreviousSecret, err = s.keys.Seal(ctx, d.TenantID, []byte(d.PreviousSecret), columnPreviousSecret, d.ID); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// openDestination returns the destination of a row, its URL and secrets
// opened (see openDestinationInto).
func (s *Store) openDestination(ctx context.Context, r *DestinationRow) (*sluice.Destination, error) {
	d := new(sluice.Destination)
	return d, s.openDestinationInto(ctx, r, d)
}

// openDestinationInto sets d to the destination of a row, its URL and
// secrets opened: from the cache when the row's sealed values are those
// it holds.
func (s *Store) openDestinationInto(ctx context.Context, r *DestinationRow, d *sluice.Destination) error {
	opened, err := s.secrets.open(r, func() (openedSecrets, error) {
		var o openedSecrets
		url, err := s.open(ctx, r.TenantID, r.SealedURL, columnDestinationURL, r.ID)
		if err != nil {
			return o, err
		}
		secret, err := s.open(ctx, r.TenantID, r.SealedSecret, columnDestinationSecret, r.ID)
		if err != nil {
			return o, err
		}
		o.url, o.secret = string(url), string(secret)
		if r.SealedPreviousSecret != nil {
			prev, err := s.open(ctx, r.TenantID, r.SealedPreviousSecret, columnPreviousSecret, r.ID)
			if err != nil {
				return o, err
			}
			o.previousSecret = string(prev)
		}
		if r.SealedCredentials != nil {
			plain, err := s.open(ctx, r.TenantID, r.SealedCredentials, columnDestinationCreds, r.ID)
			if err != nil {
				return o, err
			}
			if o.creds, err = decodeDestinationCredentials(r.ID, plain); err != nil {
				return o, err
			}
		}
		return o, nil
	})
	if err != nil {
		return err
	}
	*d = r.Destination
	d.URL, d.Secret, d.PreviousSecret = opened.url, opened.secret, opened.previousSecret
	d.Headers, d.Auth, d.ClientCert = maps.Clone(opened.creds.Headers), opened.creds.Auth, opened.creds.ClientCert
	return nil
}

// openedSecrets are a destination's URL, secrets and credentials in the
// clear, and the sealed values they were opened from.
type openedSecrets struct {
	sealedURL, sealedSecret, sealedPrevious, sealedCreds []byte
	url, secret, previousSecret                          string
	creds                                                destinationCredentials
}

// destinationCredentials is what a destination's credentials column seals.
type destinationCredentials struct {
	Headers    map[string]string        `json:"headers,omitempty"`
	Auth       sluice.DestinationAuth   `json:"auth,omitzero"`
	ClientCert sluice.ClientCertificate `json:"client_cert,omitzero"`
}

// encodeDestinationCredentials returns what d's credentials column seals,
// and false when d has no headers, auth or client certificate.
func encodeDestinationCredentials(d *sluice.Destination) ([]byte, bool, error) {
	c := destinationCredentials{Headers: d.Headers, Auth: d.Auth, ClientCert: d.ClientCert}
	if len(c.Headers) == 0 && c.Auth == (sluice.DestinationAuth{}) && c.ClientCert == (sluice.ClientCertificate{}) {
		return nil, false, nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, false, fmt.Errorf("encode credentials of %s: %w", d.ID, err)
	}
	return b, true, nil
}

func decodeDestinationCredentials(id string, plain []byte) (destinationCredentials, error) {
	var c destinationCredentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return c, fmt.Errorf("decode credentials of destination %s: %w", id, err)
	}
	return c, nil
}

// secretCache keeps destinations' opened URLs and secrets by destination
// id, so routing an event to a destination and claiming its deliveries
// need not open them again: an entry serves a row only when the row's
// sealed values are byte for byte those it was opened from, and a sealed
// value names its key and carries a random nonce, so a changed URL or
// secret never reads an old entry.
type secretCache struct {
	mu   sync.Mutex
	byID map[string]*openedSecrets
}

// open returns the row's opened secrets from the cache or from load.
func (c *secretCache) open(r *DestinationRow, load func() (openedSecrets, error)) (openedSecrets, error) {
	c.mu.Lock()
	o := c.byID[r.ID]
	c.mu.Unlock()
	if o != nil && bytes.Equal(o.sealedURL, r.SealedURL) && bytes.Equal(o.sealedSecret, r.SealedSecret) &&
		bytes.Equal(o.sealedPrevious, r.SealedPreviousSecret) && bytes.Equal(o.sealedCreds, r.SealedCredentials) {
		return *o, nil
	}
	opened, err := load()
	if err != nil {
		return opened, err
	}
	opened.sealedURL, opened.sealedSecret, opened.sealedPrevious = r.SealedURL, r.SealedSecret, r.SealedPreviousSecret
	opened.sealedCreds = r.SealedCredentials
	c.mu.Lock()
	if c.byID == nil || len(c.byID) >= maxCachedSecrets {
		c.byID = make(map[string]*openedSecrets)
	}
	c.byID[r.ID] = &opened
	c.mu.Unlock()
	return opened, nil
}

// credentials is a source's sealed verification secrets.
type credentials struct {
	Secret   string `json:"secret,omitempty"`
	Password string `json:"password,omitempty"`
}

// sealSource returns src's row, its verification secrets sealed.
func (s *Store) sealSource(ctx context.Context, src *sluice.Source) (*SourceRow, error) {
	r := &SourceRow{Source: *src}
	r.Verification.Secret, r.Verification.Password = "", ""
	plain, err := json.Marshal(credentials{Secret: src.Verification.Secret, Password: src.Verification.Password})
	if err != nil {
		return nil, fmt.Errorf("encode source %s: %w", src.ID, err)
	}
	if r.SealedCredentials, err = s.keys.Seal(ctx, src.TenantID, plain, columnSourceCredentials, src.ID); err != nil {
		return nil, err
	}
	return r, nil
}

// openSource returns the source of a row, its verification secrets opened.
func (s *Store) openSource(ctx context.Context, r *SourceRow) (*sluice.Source, error) {
	plain, err := s.open(ctx, r.TenantID, r.SealedCredentials, columnSourceCredentials, r.ID)
	if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, fmt.Errorf("decode credentials of source %s: %w", r.ID, err)
	}
	src := r.Source
	src.Verification.Secret, src.Verification.Password = c.Secret, c.Password
	return &src, nil
}

// sealPayload seals a payload's body and, if it has any, its headers.
func (s *Store) sealPayload(ctx context.Context, tenantID, eventID string, p *sluice.Payload) (body, headers []byte, err error) {
	if body, err = s.keys.Seal(ctx, tenantID, p.Body, columnPayloadBody, eventID); err != nil {
		return nil, nil, err
	}
	if p.Headers == nil {
		return body, nil, nil
	}
	plain, err := marshalHeaders(p.Headers)
	if err != nil {
		return nil, nil, err
	}
	if headers, err = s.keys.Seal(ctx, tenantID, plain, columnPayloadHeaders, eventID); err != nil {
		return nil, nil, err
	}
	return body, headers, nil
}

// openPayload opens what sealPayload sealed; sealedHeaders may be nil.
func (s *Store) openPayload(ctx context.Context, tenantID, eventID string, sealedBody, sealedHeaders []byte) ([]byte, http.Header, error) {
	body, err := s.open(ctx, tenantID, sealedBody, columnPayloadBody, eventID)
	if err != nil || sealedHeaders == nil {
		return body, nil, err
	}
	plain, err := s.open(ctx, tenantID, sealedHeaders, columnPayloadHeaders, eventID)
	if err != nil {
		return nil, nil, err
	}
	headers, err := unmarshalHeaders(eventID, plain)
	return body, headers, err
}

// marshalHeaders is how stored headers are encoded before sealing.
func marshalHeaders(h http.Header) ([]byte, error) {
	plain, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode headers: %w", err)
	}
	return plain, nil
}

func unmarshalHeaders(eventID string, plain []byte) (http.Header, error) {
	var headers http.Header
	if err := json.Unmarshal(plain, &headers); err != nil {
		return nil, fmt.Errorf("decode headers of %s: %w", eventID, err)
	}
	return headers, nil
}

// subjectHash is the tenant's keyed hash of a normalised subject.
func (s *Store) subjectHash(ctx context.Context, tenantID string, subj sluice.Subject) ([]byte, error) {
	key, err := s.keys.SubjectKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return subject.Hash(key, subject.Subject{Type: subj.Type, Value: subj.Value}), nil
}

// subjectHashes returns the distinct keyed hashes of the subjects.
func (s *Store) subjectHashes(ctx context.Context, tenantID string, subjects []sluice.Subject) ([][]byte, error) {
	if len(subjects) == 0 {
		return nil, nil
	}
	key, err := s.keys.SubjectKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	seen := make(map[string]bool, len(subjects))
	for _, subj := range subjects {
		h := subject.Hash(key, subject.Subject{Type: subj.Type, Value: subj.Value})
		if !seen[string(h)] {
			seen[string(h)] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// dedupDigest is what is kept of a dedup key: an idempotency key or a
// provider's event id may carry personal data ("order-ada@example.com"),
// so only its keyed hash is stored, under the tenant's subject key.
func (s *Store) dedupDigest(ctx context.Context, tenantID, key string) (string, error) {
	sk, err := s.keys.SubjectKey(ctx, tenantID)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, sk)
	mac.Write([]byte("dedup\x00"))
	mac.Write([]byte(key))
	return hex.EncodeToString(mac.Sum(nil)), nil
}
