package sluice

// RequireAdmin returns nil for an admin key and an EFORBIDDEN *Error for
// any other: writes, payloads, secrets and exports need an admin key, and
// the API and the dashboard refuse a viewer in the same words.
func (k *APIKey) RequireAdmin() error {
	if k.Role != RoleAdmin {
		return Errorf(EFORBIDDEN, "this needs an admin key; a viewer key reads metadata only")
	}
	return nil
}
