package anomaly

import (
	"strings"
	"time"
)

// Count is one key's events in one part of a window. Processes that share
// a database exchange them (Unshared, Merge), so each judges bursts and
// verification failures on the traffic of all. A key names ids and an
// event type only.
type Count struct {
	Key  string
	Part time.Time // the start of the part
	N    int
}

// Unshared returns the counts this process has made since it last called
// Unshared, for the parts still in their sliding windows, and from then on
// holds them as shared: the next Merge brings them back within the totals.
func (d *Detector) Unshared() []Count {
	d.mu.Lock()
	defer d.mu.Unlock()
	part := d.window() / slots
	var out []Count
	for _, m := range []map[string]*rate{d.rates, d.failures} {
		for key, r := range m {
			for back := range slots {
				i := (r.head - back + slots) % slots
				if r.own[i] == 0 {
					continue
				}
				out = append(out, Count{Key: key, Part: r.part.Add(-time.Duration(back) * part), N: r.own[i]})
				r.own[i] = 0
			}
		}
	}
	return out
}

// Since is the start of the oldest part in the window sliding to now:
// Merge needs the totals of the parts from then on.
func (d *Detector) Since(now time.Time) time.Time {
	part := d.window() / slots
	return now.Truncate(part).Add(-(slots - 1) * part)
}

// Merge takes the totals of every process's counts, this one's shared
// ones included, for parts since Since(now): a key's sliding count is then
// those totals and what this process has counted since it last shared. A
// key only other processes have counted is kept too, so its baseline and
// warm-up are the same in every process.
func (d *Detector) Merge(totals []Count, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	part := d.window() / slots
	for _, c := range totals {
		var m *map[string]*rate
		switch {
		case strings.HasPrefix(c.Key, kindBurst+keySep):
			m = &d.rates
		case strings.HasPrefix(c.Key, kindAuth+keySep):
			m = &d.failures
		default:
			continue
		}
		r := d.counter(m, c.Key, now)
		if i, ok := r.index(c.Part, part); ok {
			r.parts[i] = c.N + r.own[i]
		}
	}
}

// PartLength is the length of a part of the window: how far it slides at
// a time, and how often processes sharing counts should exchange them.
func (d *Detector) PartLength() time.Duration { return d.window() / slots }
