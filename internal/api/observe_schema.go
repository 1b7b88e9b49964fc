package api

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/schema"
)

// maxKnownObservations bounds the cache of observations known to be
// stored; when full it starts again empty (and the store, which keeps each
// once, is asked again).
const maxKnownObservations = 100_000

// knownObservations remembers which observations the store already has,
// so an event whose shape is known costs no extra writes.
type knownObservations struct {
	mu   sync.Mutex
	keys map[observationKey]bool
}

// observationKey identifies an observation of a tenant; a struct of
// strings, so a lookup on every event allocates nothing.
type observationKey struct {
	tenantID string
	sluice.Observation
}

// unknown returns the observations of an event the cache does not hold,
// led by the event type's, or nil when it holds them all.
func (k *knownObservations) unknown(tenantID string, all []sluice.Observation) []sluice.Observation {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []sluice.Observation
	for _, o := range all[1:] {
		if !k.keys[observationKey{tenantID, o}] {
			out = append(out, o)
		}
	}
	if len(out) == 0 && k.keys[observationKey{tenantID, all[0]}] {
		return nil
	}
	return append([]sluice.Observation{all[0]}, out...)
}

// stored records observations the store now has.
func (k *knownObservations) stored(tenantID string, obs []sluice.Observation) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil || len(k.keys)+len(obs) > maxKnownObservations {
		k.keys = make(map[observationKey]bool)
	}
	for _, o := range obs {
		k.keys[observationKey{tenantID, o}] = true
	}
}

// observations lists what an event shows of its shape: its type, the field
// paths of a JSON payload, the types of its subjects. Never a value.
func observations(ne *sluice.NewEvent) []sluice.Observation {
	e := &ne.Event
	obs := []sluice.Observation{{SourceID: e.SourceID, EventType: e.Type, Kind: sluice.ObservedType}}
	// Paths finds none in a body that is not a JSON object; a body that
	// says it is something else is not looked at.
	if ct := ne.Payload.ContentType; ct == "" || strings.Contains(ct, "json") {
		for _, p := range schema.Paths(ne.Payload.Body) {
			obs = append(obs, sluice.Observation{SourceID: e.SourceID, EventType: e.Type, Kind: sluice.ObservedField, Name: p})
		}
	}
	seen := map[string]bool{}
	for _, s := range ne.Subjects {
		if !seen[s.Type] {
			seen[s.Type] = true
			obs = append(obs, sluice.Observation{SourceID: e.SourceID, EventType: e.Type, Kind: sluice.ObservedSubject, Name: s.Type})
		}
	}
	return obs
}

// reportDrift publishes sluice.anomaly.schema_drift for the field paths an
// event carried first among a source's events of its type. It names paths,
// never values.
func (h *Handler) reportDrift(ctx context.Context, ne *sluice.NewEvent) {
	if len(ne.Drift) == 0 {
		return
	}
	h.publishAnomaly(ctx, ne.Event.TenantID, sluice.AnomalyNotice{
		SourceID:  ne.Event.SourceID,
		EventType: ne.Event.Type,
		Kind:      sluice.AnomalySchemaDrift,
		Detail:    "new field paths: " + strings.Join(ne.Drift, ", "),
	})
}

// publishAnomaly stores an operational sluice.anomaly.* event. A failure is
// logged, not returned: the event that caused it is stored already.
func (h *Handler) publishAnomaly(ctx context.Context, tenantID string, a sluice.AnomalyNotice) {
	a.At = time.Now().UTC()
	ne, err := sluice.NewNotice(tenantID, sluice.NoticeAnomalyPrefix+a.Kind, a, a.At, h.cfg.PayloadRetention)
	if err == nil {
		var ev *sluice.Event
		if ev, _, err = h.store.CreateEvent(context.WithoutCancel(ctx), ne, h.cfg.FirstDelay); err == nil &&
			ev.Status == sluice.EventPending {
			h.cfg.Wake()
		}
	}
	if err != nil {
		h.logger.Error("publish anomaly", slog.String("kind", a.Kind), slog.String("source_id", a.SourceID), slog.Any("error", err))
		return
	}
	h.logger.Info("anomaly", slog.String("kind", a.Kind), slog.String("source_id", a.SourceID), slog.String("event_id", ne.Event.ID))
}
