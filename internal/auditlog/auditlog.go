// Package auditlog shows a tenant's audit log to people: the names of the
// keys, destinations and sources its entries name by id, a change as one
// line of text, and the log as a CSV download. The API and the dashboard
// share it, so that both show the same log the same way.
//
// It shows only what the entries hold, and entries hold no payload, secret
// or URL: a change of one shows fingerprints.
package auditlog

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/sluicehq/sluice"
)

// Store is what the audit log is read and named from; sluice.Store
// implements it. Each method is sluice.Store's.
type Store interface {
	AuditEntries(ctx context.Context, tenantID string, f sluice.AuditFilter, page sluice.Page) ([]*sluice.AuditEntry, string, error)
	APIKeys(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.APIKey, string, error)
	Destinations(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Destination, string, error)
	Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Source, string, error)
	Tenant(ctx context.Context, id string) (*sluice.Tenant, error)
}

// Names are the names of a tenant's keys, destinations and sources, and
// of the tenant, by id: what an audit entry's actor and resource are
// called now. A deleted resource has none.
type Names struct {
	byID map[string]string
	// Keys are the tenant's keys, newest first.
	Keys []*sluice.APIKey
}

// LoadNames reads the names of the tenant's keys, destinations and
// sources, and the tenant's own: one listing of each, however many entries
// are then named. Errors are the store's.
func LoadNames(ctx context.Context, store Store, tenantID string) (Names, error) {
	names := Names{byID: map[string]string{}}
	keys, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.APIKey, string, error) { return store.APIKeys(ctx, tenantID, p) })
	if err != nil {
		return Names{}, err
	}
	for _, k := range keys {
		names.byID[k.ID] = k.Name
	}
	names.Keys = keys
	dests, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Destination, string, error) {
		return store.Destinations(ctx, tenantID, p)
	})
	if err != nil {
		return Names{}, err
	}
	for _, d := range dests {
		names.byID[d.ID] = d.Name
	}
	srcs, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Source, string, error) { return store.Sources(ctx, tenantID, p) })
	if err != nil {
		return Names{}, err
	}
	for _, s := range srcs {
		names.byID[s.ID] = s.Name
	}
	ten, err := store.Tenant(ctx, tenantID)
	if err != nil {
		return Names{}, err
	}
	names.byID[ten.ID] = ten.Name
	return names, nil
}

// Of returns the name of the resource or key with the id; "" for one
// that is gone, has no name, or is not the tenant's. A portal session, the
// actor of what a customer does in their portal, is "customer portal": its
// customer is in its portal_session.create entry.
func (n Names) Of(id string) string {
	if name, ok := n.byID[id]; ok || !strings.HasPrefix(id, sluice.PrefixPortal) {
		return name
	}
	return "customer portal"
}

// ChangeText shows one field an audited change changed: "url: "fp:…" →
// "fp:…"", each value in JSON, "—" where it was or is not set.
func ChangeText(c sluice.Change) string {
	value := func(v any) string {
		if v == nil {
			return "—"
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "?"
		}
		return string(b)
	}
	return c.Field + ": " + value(c.Old) + " → " + value(c.New)
}
