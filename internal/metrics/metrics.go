// Package metrics holds Sluice's Prometheus metrics and serves them at
// GET /metrics. Labels carry outcomes, error classes and states only: never
// a URL, a subject, a payload value or a secret.
//
// A nil *Metrics records nothing, so every component can take one
// unconditionally.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice"
)

// Metrics are the gateway's metrics, in a registry of their own.
type Metrics struct {
	registry *prometheus.Registry

	received        *prometheus.CounterVec
	ack             *prometheus.HistogramVec
	attempts        *prometheus.CounterVec
	deliveries      *prometheus.CounterVec
	deliveryLatency prometheus.Histogram
	purged          *prometheus.CounterVec
	erasures        prometheus.Counter
}

// Ways an event is received: the via label.
const (
	ViaPublish = "publish" // POST /v1/events
	ViaIngest  = "ingest"  // POST /in/{source_id}
)

// Outcomes of a received event besides the API error codes: the outcome
// label.
const (
	OutcomeAccepted  = "accepted"
	OutcomeDuplicate = "duplicate"
)

// latencyBuckets span a fast acknowledgement to a slow destination.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// statsTimeout bounds the store queries behind a scrape.
const statsTimeout = 5 * time.Second

// Store is what the metrics read at each scrape.
type Store interface {
	// QueueStats counts pending deliveries and destinations by state at now.
	QueueStats(ctx context.Context, now time.Time) (*sluice.QueueStats, error)
}

// Config configures Metrics.
type Config struct {
	// Store is read at each scrape for the queue depth and the destinations
	// by state. Required.
	Store Store
	// Logger receives the errors of those reads. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// New returns the metrics, with the queue depth and destinations by state
// read from the store at each scrape, and Go runtime and process metrics.
func New(cfg Config) *Metrics {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_events_received_total",
			Help: "Events received, by way (publish or ingest) and outcome (accepted, duplicate, or the API error code).",
		}, []string{"via", "outcome"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_ack_duration_seconds",
			Help:    "Time from a publish or ingest request's arrival to its answer, by way.",
			Buckets: latencyBuckets,
		}, []string{"via"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_delivery_attempts_total",
			Help: "Delivery attempts recorded, by outcome and error class (empty on success).",
		}, []string{"outcome", "error_class"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_deliveries_total",
			Help: "Deliveries ended by an attempt, by status (succeeded or exhausted).",
		}, []string{"status"}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_delivery_latency_seconds",
			Help:    "Time from a delivery's creation to its successful attempt's end.",
			Buckets: latencyBuckets,
		}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_retention_purged_total",
			Help: "Rows purged by retention: payloads past their expiry, events past the metadata retention.",
		}, []string{"what"}),
		erasures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_erasures_total",
			Help: "Subject erasures carried out.",
		}),
	}
	m.registry.MustRegister(m.received, m.ack, m.attempts, m.deliveries, m.deliveryLatency, m.purged, m.erasures,
		&storeCollector{store: cfg.Store, logger: cfg.Logger, now: cfg.Now},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Received counts an event received by way via with the outcome, answered
// after took.
func (m *Metrics) Received(via, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.received.WithLabelValues(via, outcome).Inc()
	m.ack.WithLabelValues(via).Observe(took.Seconds())
}

// Attempt counts a recorded attempt and, when it ended its delivery, the
// delivery; a success's delivery latency is from the delivery's creation.
func (m *Metrics) Attempt(r *sluice.AttemptResult, created time.Time) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(string(r.Attempt.Outcome), r.Attempt.Error).Inc()
	switch r.Status {
	case sluice.DeliverySucceeded:
		m.deliveries.WithLabelValues(string(r.Status)).Inc()
		end := r.Attempt.At.Add(r.Attempt.Duration)
		m.deliveryLatency.Observe(max(end.Sub(created), 0).Seconds())
	case sluice.DeliveryExhausted:
		m.deliveries.WithLabelValues(string(r.Status)).Inc()
	}
}

// Purged counts a retention pass's deletions.
func (m *Metrics) Purged(payloads, events int) {
	if m == nil {
		return
	}
	m.purged.WithLabelValues("payloads").Add(float64(payloads))
	m.purged.WithLabelValues("events").Add(float64(events))
}

// Erased counts a subject erasure.
func (m *Metrics) Erased() {
	if m == nil {
		return
	}
	m.erasures.Inc()
}

// storeCollector reads the queue depth and the destinations by state from
// the store at each scrape.
type storeCollector struct {
	store  Store
	logger *slog.Logger
	now    func() time.Time
}

var (
	queueDesc = prometheus.NewDesc("sluice_deliveries_pending",
		"Pending deliveries by state: due (waiting for a worker), scheduled (due later), in_flight (claimed).",
		[]string{"state"}, nil)
	destinationsDesc = prometheus.NewDesc("sluice_destinations",
		"Destinations by state: active, paused (circuit open) or disabled.", []string{"state"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- destinationsDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	q, err := c.store.QueueStats(ctx, c.now())
	if err != nil {
		c.logger.Error("metrics: queue stats", slog.Any("error", err))
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	for state, n := range map[string]int{"due": q.Due, "scheduled": q.Scheduled, "in_flight": q.InFlight} {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), state)
	}
	for _, state := range []string{sluice.StateActive, sluice.StatePaused, sluice.StateDisabled} {
		ch <- prometheus.MustNewConstMetric(destinationsDesc, prometheus.GaugeValue, float64(q.Destinations[state]), state)
	}
}
