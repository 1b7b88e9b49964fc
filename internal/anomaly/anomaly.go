// Package anomaly watches the flow of events for patterns worth an alert,
// from counts alone, never reading a payload: bursts (a source's event type
// arriving far above its usual rate) and verification failures piling up on
// a source. Schema drift is found where events are stored (see
// sluice.NewEvent.Drift).
//
// A Detector keeps its counts in memory. Processes sharing a database
// exchange them every part of a window (Unshared, Merge), so that each
// judges the traffic of all.
package anomaly

import (
	"fmt"
	"sync"
	"time"
)

// Defaults for the zero fields of a Detector.
const (
	DefaultWindow       = 10 * time.Second
	DefaultFactor       = 5.0
	DefaultMinBurst     = 50
	DefaultAuthFailures = 10
	DefaultCooldown     = 10 * time.Minute
	DefaultWarmup       = 3
)

// maxKeys bounds the counters kept; when full they start again empty.
const maxKeys = 10000

// alpha weighs the last window in the moving baseline.
const alpha = 0.3

// Detector finds bursts and verification failures. The zero Detector uses
// the defaults; it is safe for concurrent use.
type Detector struct {
	// Window is the length of the windows events are counted in.
	Window time.Duration
	// Factor and MinBurst make a burst: a window whose count exceeds
	// Factor times the moving baseline and is at least MinBurst.
	Factor   float64
	MinBurst int
	// Warmup is how many windows a key must have been seen in before its
	// baseline is trusted.
	Warmup int
	// AuthFailures verification failures of a source within one window
	// raise an alert.
	AuthFailures int
	// Cooldown is the least time between two alerts of one key and kind.
	Cooldown time.Duration

	mu       sync.Mutex
	rates    map[string]*rate
	failures map[string]*rate
	loops    map[string]*rate
}

// slots is how many parts a window is counted in. The count compared
// with a limit is that of the last slots parts, the window sliding by a
// part at a time: a burst that straddles two fixed windows, half in each,
// still shows whole.
const slots = 10

// rate counts one key's events: over the window sliding to now, for
// alerts, and per fixed window for the moving baseline of past windows.
// Where processes share their counts (Shared, Merge), parts holds every
// process's, as far as this one knows.
type rate struct {
	parts  [slots]int // the last slots parts of a window, a ring
	own    [slots]int // this process's counts in parts, not shared yet
	part   time.Time  // start of the current part, at parts[head]
	head   int
	seeded bool // the ring has seen an event or a merge

	baseline  float64
	windows   int // fixed windows completed
	lastAlert time.Time
}

// add counts one event in the current part.
func (r *rate) add() {
	r.parts[r.head]++
	r.own[r.head]++
}

// sliding is the count of the window that ends now.
func (r *rate) sliding() int {
	n := 0
	for _, c := range r.parts {
		n += c
	}
	return n
}

// index returns the ring position of the part starting at t, and false
// when that part is not in the ring (ended more than a window ago, or not
// started).
func (r *rate) index(t time.Time, part time.Duration) (int, bool) {
	if t.After(r.part) || r.part.Sub(t) >= slots*part || r.part.Sub(t)%part != 0 {
		return 0, false
	}
	back := int(r.part.Sub(t) / part)
	return (r.head - back + slots) % slots, true
}

// Event counts an event of the source ("" for published ones) and type and
// reports a burst, with its description, when this event makes one.
func (d *Detector) Event(tenantID, sourceID, eventType string, now time.Time) (burst bool, detail string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.counter(&d.rates, burstKey(tenantID, sourceID, eventType), now)
	r.add()
	n := r.sliding()
	limit := max(d.factor()*r.baseline, float64(d.minBurst()))
	if r.windows < d.warmup() || float64(n) <= limit || !d.cooledDown(r, now) {
		return false, ""
	}
	r.lastAlert = now
	return true, fmt.Sprintf("%d events in %s, against a usual %.1f", n, d.window(), r.baseline)
}

// AuthFailure counts a verification failure of the source and reports,
// with its description, when failures have piled up.
func (d *Detector) AuthFailure(tenantID, sourceID string, now time.Time) (alert bool, detail string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.counter(&d.failures, failureKey(tenantID, sourceID), now)
	r.add()
	n := r.sliding()
	if n < d.authFailures() || !d.cooledDown(r, now) {
		return false, ""
	}
	r.lastAlert = now
	return true, fmt.Sprintf("%d verification failures in %s", n, d.window())
}

// Loop notes an event of the source refused as a loop and reports whether
// to alert: the first time, and again once the cooldown has passed.
func (d *Detector) Loop(tenantID, sourceID string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.counter(&d.loops, failureKey(tenantID, sourceID), now)
	r.add()
	if !d.cooledDown(r, now) {
		return false
	}
	r.lastAlert = now
	return true
}

// counter returns key's rate with its window brought up to now.
func (d *Detector) counter(m *map[string]*rate, key string, now time.Time) *rate {
	if *m == nil || len(*m) >= maxKeys {
		*m = make(map[string]*rate)
	}
	r := (*m)[key]
	if r == nil {
		r = &rate{part: now.Truncate(d.window() / slots)}
		(*m)[key] = r
	}
	d.advance(r, now)
	return r
}

// advance moves r's ring up to the part holding now. The parts that ended
// leave the sliding window; each fixed window that ended (the ring's ten
// parts, aligned on the window) is folded into the baseline, and each
// empty one after it as zero.
func (d *Detector) advance(r *rate, now time.Time) {
	window, part := d.window(), d.window()/slots
	if now.Sub(r.part) >= 2*window { // idle: fold the ring's last window, then zeros
		start := r.part.Truncate(window)
		n := 0
		for i := 0; i <= int(r.part.Sub(start)/part); i++ {
			n += r.parts[(r.head-i+slots)%slots]
		}
		d.fold(r, n)
		empty := int(now.Truncate(window).Sub(start)/window) - 1
		for i := 0; i < empty && i < 100; i++ {
			d.fold(r, 0)
		}
		if empty > 100 {
			r.windows += empty - 100
		}
		r.parts, r.own, r.head, r.part = [slots]int{}, [slots]int{}, 0, now.Truncate(part)
		return
	}
	for now.Sub(r.part) >= part {
		next := r.part.Add(part)
		if next.Truncate(window).Equal(next) {
			d.fold(r, r.sliding())
		}
		r.head = (r.head + 1) % slots
		r.parts[r.head], r.own[r.head] = 0, 0
		r.part = next
	}
}

// fold takes a fixed window's count n into r's moving baseline.
func (d *Detector) fold(r *rate, n int) {
	r.baseline = alpha*float64(n) + (1-alpha)*r.baseline
	r.windows++
}

// burstKey and failureKey name a key's counts, its kind first; Shared
// and Merge carry them.
func burstKey(tenantID, sourceID, eventType string) string {
	return kindBurst + keySep + tenantID + keySep + sourceID + keySep + eventType
}

func failureKey(tenantID, sourceID string) string {
	return kindAuth + keySep + tenantID + keySep + sourceID
}

// Kinds of key, and what separates a key's parts: no id or event type
// holds the separator.
const (
	kindBurst = "burst"
	kindAuth  = "auth"
	keySep    = "\x1f"
)

func (d *Detector) cooledDown(r *rate, now time.Time) bool {
	return r.lastAlert.IsZero() || now.Sub(r.lastAlert) >= d.cooldown()
}

func (d *Detector) window() time.Duration   { return orDefault(d.Window, DefaultWindow) }
func (d *Detector) cooldown() time.Duration { return orDefault(d.Cooldown, DefaultCooldown) }

func (d *Detector) factor() float64 {
	if d.Factor > 0 {
		return d.Factor
	}
	return DefaultFactor
}

func (d *Detector) minBurst() int     { return orDefault(d.MinBurst, DefaultMinBurst) }
func (d *Detector) warmup() int       { return orDefault(d.Warmup, DefaultWarmup) }
func (d *Detector) authFailures() int { return orDefault(d.AuthFailures, DefaultAuthFailures) }

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
