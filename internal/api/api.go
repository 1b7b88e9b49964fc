// Package api is Sluice's JSON API: tenants and keys, sources and the
// ingest endpoint providers post to, destinations, and publishing and
// reading events. openapi.json, served at GET /v1/openapi.json, is its
// reference, and docs/api.md its overview.
//
// Handlers are methods on Handler that return an error; the one place an
// error becomes a response is writeError, and the one place a code becomes
// an HTTP status is statusOf. Every /v1 route is authenticated by bearer
// token and scoped to the token's tenant: another tenant's resource is 404.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/keyuse"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/thin"
)

// Config configures a Handler. New fills in the defaults.
type Config struct {
	// Store holds everything. Required.
	Store sluice.Store
	// Logger receives route patterns, statuses, ids and durations only:
	// never a body, a query string, a header or a URL. Default slog.Default().
	Logger *slog.Logger
	// MaxPayloadBytes bounds every request body; a larger one is 413.
	// Default 1 MiB.
	MaxPayloadBytes int64
	// Retention is the server's retention and payload storage, which a
	// tenant's overrides are shown against. Zero fields: the defaults.
	Retention sluice.Retention
	// FirstDelay is the delay before a new delivery's first attempt (the
	// retry schedule's first entry).
	FirstDelay time.Duration
	// AllowPrivateDestinations permits plain-http destination URLs (and, with
	// the SSRF guard, private addresses): development and tests only.
	AllowPrivateDestinations bool
	// AllowedDestinationCIDRs are private ranges destinations may use anyway;
	// a host in one may also use plain http.
	AllowedDestinationCIDRs []netip.Prefix
	// Self is how this gateway is reached, bar the request's own Host,
	// which is added: no destination may lead there.
	Self safehttp.Self
	// MaxHops is how many gateways an event may have passed through
	// (sluice.HeaderHops) for ingest and publish to accept it; beyond,
	// they answer 508. Default sluice.DefaultMaxHops.
	MaxHops int
	// Resolver looks up a destination's host name when the destination is
	// created or its URL changed, for the SSRF check. Default
	// net.DefaultResolver.
	Resolver safehttp.Resolver
	// TrustedProxies are the peers whose X-Forwarded-For names the client,
	// for source IP allowlists.
	TrustedProxies []netip.Prefix
	// Origin is how clients reach the gateway: the public URL, or what a
	// trusted proxy or the request says. Ingest URLs are built on it.
	Origin origin.Origin
	// DetectEmails indexes every email address found in a payload (see
	// subject.Emails for where it looks) as a subject of its event.
	DetectEmails bool
	// Offers, when set, takes the deliveries of new events created already
	// claimed (*deliver.Dispatcher implements it), so they go without a
	// claim's round trip through the store.
	Offers Offerer
	// Metrics, when set, counts received events, their acknowledgement
	// latency and erasures, and is served at GET /metrics.
	Metrics *metrics.Metrics
	// Wake is called when deliveries may have become due now: an event was
	// stored, or a destination was enabled. Default: nothing. The
	// listeners' waiting claims are woken too.
	Wake func()
	// RetrySchedule is the delay before each attempt, as the dispatcher's
	// (its length is the attempt limit): the attempts listeners report
	// are retried on it. Default: FirstDelay alone, no retries.
	RetrySchedule []time.Duration
	// DeliveryLease is how long a delivery claimed by a listener stays
	// claimed, as the dispatcher's. Default deliver.DefaultLease.
	DeliveryLease time.Duration
	// ListenTTL is how long a listen destination lives after its listener
	// last claimed from it. Default DefaultListenTTL.
	ListenTTL time.Duration
	// ListenPoll is how often a listener's waiting claim looks at the
	// store when nothing wakes it. Default DefaultListenPoll.
	ListenPoll time.Duration
	// FetchKey checks the fetch tokens of thin deliveries
	// (seal.Master.FetchKey), as the dispatcher signs them. Without it
	// every fetch is 404 and listeners get no thin deliveries.
	FetchKey []byte
	// KeyUse records the minute each key last authenticated; share one
	// with the dashboard. Default: a Recorder of its own over Store.
	KeyUse *keyuse.Recorder
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Defaults for the zero values of Config.
const (
	DefaultMaxPayloadBytes = 1 << 20
)

// Offerer takes deliveries created claimed for it: see
// sluice.NewEvent.Claim.
type Offerer interface {
	// OfferRequest returns the request to create claimed deliveries
	// under, and the function that takes those the store created; nils
	// for none.
	OfferRequest() (*sluice.ClaimRequest, func(claims []*sluice.Claim))
}

// Handler serves the API. Create it with New.
type Handler struct {
	cfg    Config
	store  sluice.Store
	logger *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	routes []string        // the pattern of every API route, in the order registered
	policy safehttp.Policy // for destination URLs, from the Config

	sourceLimits keyedLimiter             // requests a second per source
	keys         ttlCache[*sluice.APIKey] // recently authenticated keys, by token hash
	sources      ttlCache[*sluice.Source] // recently used ingest sources, by id

	listenWake wakeSignal    // wakes listeners' waiting claims
	ending     chan struct{} // closed by EndLongPolls
	endOnce    sync.Once
}

// New returns a Handler serving every route of the API. It panics if
// cfg.Store is nil, which is a programming error.
func New(cfg Config) *Handler {
	if cfg.Store == nil {
		panic("api: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	cfg.Retention = cfg.Retention.Or(sluice.DefaultRetention)
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.MaxHops <= 0 {
		cfg.MaxHops = sluice.DefaultMaxHops
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if len(cfg.RetrySchedule) == 0 {
		cfg.RetrySchedule = []time.Duration{cfg.FirstDelay}
	}
	if cfg.DeliveryLease <= 0 {
		cfg.DeliveryLease = deliver.DefaultLease
	}
	if cfg.ListenTTL <= 0 {
		cfg.ListenTTL = DefaultListenTTL
	}
	if cfg.ListenPoll <= 0 {
		cfg.ListenPoll = DefaultListenPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyUse == nil {
		cfg.KeyUse = keyuse.New(cfg.Store, cfg.Logger)
	}
	h := &Handler{cfg: cfg, store: cfg.Store, logger: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(),
		policy: safehttp.Policy{AllowPrivate: cfg.AllowPrivateDestinations, Allowed: cfg.AllowedDestinationCIDRs,
			Self: cfg.Self}, ending: make(chan struct{})}
	wake := cfg.Wake
	h.cfg.Wake = func() {
		wake()
		h.listenWake.notify()
	}
	h.register()
	return h
}

// Handle serves pattern with handler beside the API, such as the
// dashboard at /ui/. Call it before serving.
func (h *Handler) Handle(pattern string, handler http.Handler) {
	h.mux.Handle(pattern, handler)
}

// Routes returns the pattern of every API route ("GET /v1/events/{id}"),
// in the order registered, so tests can hold the API's reference to them.
// Neither the fallback that answers 404 or 405 nor what Handle adds is
// among them.
func (h *Handler) Routes() []string { return slices.Clone(h.routes) }

// handle registers an API route and records its pattern for Routes.
func (h *Handler) handle(pattern string, handler http.HandlerFunc) {
	h.routes = append(h.routes, pattern)
	h.mux.HandleFunc(pattern, handler)
}

// register registers every API route.
func (h *Handler) register() {
	h.handle("GET /healthz", h.healthz)
	if h.cfg.Metrics != nil {
		h.handle("GET /metrics", h.cfg.Metrics.Handler().ServeHTTP)
	}
	h.handle("GET /v1/openapi.json", serveOpenAPI)

	h.route("POST /v1/tenants", operatorOnly, h.createTenant)
	h.route("GET /v1/tenants/{id}", anyRole, h.getTenant)
	h.route("PATCH /v1/tenants/{id}", adminOnly, h.updateTenant)
	h.route("DELETE /v1/tenants/{id}", operatorOnly, h.deleteTenant)
	h.route("POST /v1/tenants/{id}/rotate-key", adminOnly, h.rotateTenantKey)
	h.route("POST /v1/keys", adminOnly, h.createKey)
	h.route("GET /v1/keys", adminOnly, h.listKeys)
	h.route("DELETE /v1/keys/{id}", adminOnly, h.deleteKey)

	h.handle("POST /in/{source_id}", h.countReceived(metrics.ViaIngest, h.ingest))
	h.route("POST /v1/sources", adminOnly, h.createSource)
	h.route("GET /v1/sources", anyRole, h.listSources)
	h.route("GET /v1/sources/{id}", anyRole, h.getSource)
	h.route("PATCH /v1/sources/{id}", adminOnly, h.updateSource)
	h.route("DELETE /v1/sources/{id}", adminOnly, h.deleteSource)

	h.route("POST /v1/destinations", adminOnly, h.createDestination)
	h.route("GET /v1/destinations", anyRole, h.listDestinations)
	h.route("GET /v1/destinations/{id}", anyRole, h.getDestination)
	h.route("PATCH /v1/destinations/{id}", adminOnly, h.updateDestination)
	h.route("DELETE /v1/destinations/{id}", adminOnly, h.deleteDestination)
	h.route("GET /v1/destinations/{id}/secret", adminOnly, h.getDestinationSecret)
	h.route("GET /v1/destinations/{id}/deliveries", anyRole, h.listDestinationDeliveries)
	h.route("POST /v1/destinations/{id}/rotate-secret", adminOnly, h.rotateSecret)
	h.route("POST /v1/destinations/{id}/recover", adminOnly, h.recoverDestination)
	h.route("POST /v1/destinations/{id}/resume", adminOnly, h.resumeDestination)
	h.route("POST /v1/destinations/{id}/test", adminOnly, h.testDestination)
	h.route("POST /v1/portal-sessions", adminOnly, h.createPortalSession)
	h.route("DELETE /v1/portal-sessions/{id}", adminOnly, h.deletePortalSession)

	h.route("POST /v1/listen", adminOnly, h.createListen)
	h.route("DELETE /v1/listen/{id}", adminOnly, h.deleteListen)
	h.route("POST /v1/listen/{id}/claim", adminOnly, h.claimListen)
	h.route("POST /v1/listen/{id}/attempts", adminOnly, h.reportListen)

	h.handle("POST /v1/events", h.countReceived(metrics.ViaPublish, h.handler(adminOnly, h.publishEvent)))
	h.route("GET /v1/events", anyRole, h.listEvents)
	h.route("GET /v1/events/{id}", anyRole, h.getEvent)
	h.route("GET /v1/events/{id}/deliveries", anyRole, h.listDeliveries)
	h.route("GET /v1/events/{id}/attempts", anyRole, h.listAttempts)
	h.route("POST /v1/events/{id}/replay", adminOnly, h.replayEvent)
	h.route("DELETE /v1/events/{id}/payload", adminOnly, h.erasePayload)

	h.route("POST /v1/erasures", adminOnly, h.eraseSubject)
	h.route("GET /v1/erasures", adminOnly, h.listErasures)
	h.route("GET /v1/subjects/export", adminOnly, h.exportSubject)
	h.route("POST /v1/pseudonyms/resolve", adminOnly, h.resolvePseudonym)
	h.route("GET /v1/audit", anyRole, h.listAudit)
	h.route("GET /v1/datamap", anyRole, h.getDataMap)
	h.route("GET /v1/datamap/records", anyRole, h.getRecords)

	// The token is the credential: no API key.
	h.handle("GET "+thin.PathPrefix+"{token}", h.fetchThin)

	// Anything else gets the API's error shape rather than the mux's plain
	// text: 405 with Allow for a known path and another method, else 404.
	h.mux.HandleFunc("/", h.noRoute)
}

// noRoute answers a request no route matched: 405 naming the methods the
// path has, or 404 when it has none.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		h.writeError(w, r, sluice.Errorf(sluice.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	h.writeError(w, r, sluice.Errorf(sluice.EMETHOD, "%s is not allowed here; use %s", r.Method, strings.Join(allowed, " or ")))
}

// ServeHTTP bounds the request body and dispatches to the route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// No browser may read an answer as anything but its declared type.
	// The slice is shared by every response and never written to.
	w.Header()["X-Content-Type-Options"] = nosniff
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxPayloadBytes)
	if !h.logger.Enabled(r.Context(), slog.LevelDebug) {
		h.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.mux.ServeHTTP(rec, r)
	// r.Pattern, not the URL: a query string may carry a subject value.
	h.logger.DebugContext(r.Context(), "request", slog.String("route", r.Pattern),
		slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
}

var nosniff = []string{"nosniff"}

// statusRecorder remembers the status a handler wrote, for the debug log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// healthz answers 200 while the store answers, 503 otherwise.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		h.logger.WarnContext(r.Context(), "health check failed", slog.Any("error", err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// errorStatuses maps each error code to its HTTP status: the only such
// mapping. A code not in it, EINTERNAL included, is 500.
var errorStatuses = map[string]int{
	sluice.EINVALID:      http.StatusBadRequest,
	sluice.EUNAUTHORIZED: http.StatusUnauthorized,
	sluice.EFORBIDDEN:    http.StatusForbidden,
	sluice.ENOTFOUND:     http.StatusNotFound,
	sluice.EMETHOD:       http.StatusMethodNotAllowed,
	sluice.ECONFLICT:     http.StatusConflict,
	sluice.EGONE:         http.StatusGone,
	sluice.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	sluice.ERATELIMITED:  http.StatusTooManyRequests,
	sluice.ELOOP:         http.StatusLoopDetected,
	sluice.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// statusOf is the HTTP status of an error code (errorStatuses).
func statusOf(code string) int {
	if status, ok := errorStatuses[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// errorBody is the shape of every error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers with err's code and user-safe message. An internal
// error is logged (it carries ids and SQL, never request data) and shown
// without detail; so is the cause of an unavailable database, whose answer
// asks the client to come back after a second.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := sluice.ErrorCode(err)
	switch code {
	case sluice.EINTERNAL:
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return // the client went away; nobody reads the answer
		}
		h.logger.ErrorContext(r.Context(), "request failed", slog.String("route", r.Pattern), slog.Any("error", err))
	case sluice.EUNAVAILABLE:
		h.logger.WarnContext(r.Context(), "request failed", slog.String("route", r.Pattern), slog.Any("error", err))
		w.Header().Set("Retry-After", "1")
	case sluice.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, sluice.ErrorMessage(err)
	writeJSON(w, statusOf(code), &body)
}
