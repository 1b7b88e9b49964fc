package anomaly

import "strings"

// Forget drops every count kept for the tenant: its data is being deleted.
func (d *Detector) Forget(tenantID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range []struct {
		rates map[string]*rate
		kind  string
	}{{d.rates, kindBurst}, {d.failures, kindAuth}, {d.loops, kindAuth}} {
		prefix := m.kind + keySep + tenantID + keySep
		for key := range m.rates {
			if strings.HasPrefix(key, prefix) {
				delete(m.rates, key)
			}
		}
	}
}
