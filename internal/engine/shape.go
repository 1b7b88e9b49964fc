package engine

import (
	"strings"
	"sync"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/schema"
)

// observationsOf lists what an event shows of its shape: its type, the
// field paths of a JSON payload, the types of its subjects. Never a value.
// The type's observation leads.
func observationsOf(in *sluice.NewEvent) []sluice.Observation {
	e := &in.Event
	obs := []sluice.Observation{{SourceID: e.SourceID, EventType: e.Type, Kind: sluice.ObservedType}}
	// Paths finds none in a body that is not a JSON object; a body that
	// says it is something else is not looked at.
	if ct := in.Payload.ContentType; ct == "" || strings.Contains(ct, "json") {
		for _, p := range schema.Paths(in.Payload.Body) {
			obs = append(obs, sluice.Observation{SourceID: e.SourceID, EventType: e.Type, Kind: sluice.ObservedField, Name: p})
		}
	}
	seen := map[string]bool{}
	for _, s := range in.Subjects {
		if !seen[s.Type] {
			seen[s.Type] = true
			obs = append(obs, sluice.Observation{SourceID: e.SourceID, EventType: e.Type, Kind: sluice.ObservedSubject, Name: s.Type})
		}
	}
	return obs
}

// driftOf returns the field paths among obs that the store did not have
// (isNew) for a source and event type it had seen before: the first
// observation, of the type, tells whether it had.
func driftOf(obs []sluice.Observation, isNew []bool) []string {
	if len(obs) == 0 || obs[0].Kind != sluice.ObservedType || isNew[0] {
		return nil
	}
	var drift []string
	for i, o := range obs {
		if isNew[i] && o.Kind == sluice.ObservedField {
			drift = append(drift, o.Name)
		}
	}
	return drift
}

// driftDetail describes a drift: the paths, never a value.
func driftDetail(paths []string) string { return "new field paths: " + strings.Join(paths, ", ") }

// maxKnownShapes bounds the observations known to be stored; when full the
// cache starts again empty (and the store, which keeps each once, is asked
// again).
const maxKnownShapes = 100_000

// knownShapes remembers which observations the store already has, so an
// event whose shape is known costs no extra writes.
type knownShapes struct {
	mu   sync.Mutex
	keys map[shapeKey]bool
}

// shapeKey identifies an observation of a tenant; a struct of strings, so
// a lookup on every event allocates nothing.
type shapeKey struct {
	tenantID string
	sluice.Observation
}

// unknown returns the observations of an event the cache does not hold,
// led by the event type's, or nil when it holds them all.
func (k *knownShapes) unknown(tenantID string, all []sluice.Observation) []sluice.Observation {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []sluice.Observation
	for _, o := range all[1:] {
		if !k.keys[shapeKey{tenantID, o}] {
			out = append(out, o)
		}
	}
	if len(out) == 0 && k.keys[shapeKey{tenantID, all[0]}] {
		return nil
	}
	return append([]sluice.Observation{all[0]}, out...)
}

// stored records observations the store now has.
func (k *knownShapes) stored(tenantID string, obs []sluice.Observation) {
	if len(obs) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil || len(k.keys)+len(obs) > maxKnownShapes {
		k.keys = make(map[shapeKey]bool)
	}
	for _, o := range obs {
		k.keys[shapeKey{tenantID, o}] = true
	}
}

// reset forgets every observation known to be stored.
func (k *knownShapes) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = nil
}
