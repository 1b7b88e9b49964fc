package anomaly

import "strings"

// Forget drops every count of the tenant, once it is deleted: its
// sources' and event types' rates and verification failures.
func (d *Detector) Forget(tenantID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prefix := tenantID + "\x00"
	for _, m := range []map[string]*rate{d.rates, d.failures} {
		for key := range m {
			if strings.HasPrefix(key, prefix) {
				delete(m, key)
			}
		}
	}
}
