package sqlite

import "context"

// DeleteTenantConfig deletes the tenant's sources and destinations, and
// forgets the tenant's routes even when it had no destination to forget
// them by.
func (t *tx) DeleteTenantConfig(ctx context.Context, tenantID string) ([]string, error) {
	ids, err := t.Ops.DeleteTenantConfig(ctx, tenantID)
	t.forget(tenantID, "")
	return ids, err
}
