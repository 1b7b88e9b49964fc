package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/anomaly"
	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/sqlite"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
	"github.com/sluicehq/sluice/internal/thin"
)

// testBundle is the API served on loopback over a real SQLite store, with a
// running dispatcher, and the operator token of the default tenant.
type testBundle struct {
	store    *engine.Store
	dbPath   string // the embedded store's database file, for tests that tamper with it; "" on PostgreSQL
	srv      *httptest.Server
	operator string // token of the operator key (admin of the default tenant)
	logs     *testlog.Buffer
	// contract checks every answer of srv against openapi.json; nil for
	// none.
	contract *contractChecker
}

// setupOptions tune setup; the zero value is what most tests want.
type setupOptions struct {
	maxPayloadBytes int64
	retrySchedule   []time.Duration
	noDispatcher    bool
	// strictURLs refuses private destinations (plain http) unless their
	// address is in allowedCIDRs, as production does.
	strictURLs   bool
	allowedCIDRs []netip.Prefix
	// resolver answers the destination host checks of strictURLs; default
	// fakeResolver{}, where no name resolves (tests never ask real DNS).
	resolver safehttp.Resolver
	// trustedProxies are believed about X-Forwarded-For.
	trustedProxies []netip.Prefix
	// now is the clock of the API (rate limits, timestamps), the store
	// (due times, the anomaly detector's windows) and the dispatcher;
	// default time.Now.
	now func() time.Time
	// noDetectEmails turns off indexing the email addresses in payloads.
	noDetectEmails bool
	// anomalies replaces the store's default anomaly detector.
	anomalies *anomaly.Detector
	// postgres runs the bundle on PostgreSQL, in a schema of its own,
	// instead of SQLite; the test is skipped without a test database.
	postgres bool
}

// eachStore runs fn as a subtest on the embedded store and on PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, o setupOptions)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, setupOptions{}) })
	t.Run("postgres", func(t *testing.T) {
		testkit.DatabaseURL(t)
		t.Parallel()
		fn(t, setupOptions{postgres: true})
	})
}

func setup(t *testing.T) *testBundle { return setupWith(t, setupOptions{}) }

// setupWith takes a testing.TB so fuzz targets can build one bundle for
// all their inputs.
func setupWith(t testing.TB, o setupOptions) *testBundle {
	t.Helper()
	ctx := context.Background()
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var (
		dbPath string
		driver engine.Driver
	)
	if o.postgres {
		driver = testkit.OpenPostgres(t, testkit.NewSchema(t))
	} else {
		dbPath = filepath.Join(t.TempDir(), "sluice.db")
		d, err := sqlite.Open(ctx, sqlite.Config{Path: dbPath, Logger: logger})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		driver = d
	}
	store := testkit.OpenStore(t, driver, testkit.StoreOptions{Now: o.now, Anomalies: o.anomalies, Logger: logger})
	operator := sluice.NewToken()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "operator", Role: sluice.RoleAdmin,
		Operator: true, TokenHash: sluice.HashToken(operator)}
	if err := store.CreateTenant(ctx, ten, key); err != nil {
		t.Fatalf("create default tenant: %v", err)
	}

	// Bound first, so thin deliveries' fetch URLs can name it.
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	fetch := thin.Issuer{Base: "http://" + srv.Listener.Addr().String(), Key: store.FetchKey()}
	schedule := o.retrySchedule
	if schedule == nil {
		schedule = []time.Duration{0, 50 * time.Millisecond, 50 * time.Millisecond}
	}
	cfg := api.Config{Store: store, Logger: logger, MaxPayloadBytes: o.maxPayloadBytes,
		FirstDelay: schedule[0], AllowPrivateDestinations: !o.strictURLs, AllowedDestinationCIDRs: o.allowedCIDRs,
		TrustedProxies: o.trustedProxies, Now: o.now, DetectEmails: !o.noDetectEmails, Resolver: o.resolver,
		RetrySchedule: schedule, DeliveryLease: 5 * time.Second, ListenPoll: 50 * time.Millisecond,
		FetchKey: fetch.Key}
	if cfg.Resolver == nil {
		cfg.Resolver = fakeResolver{}
	}
	if !o.noDispatcher {
		d, err := deliver.New(deliver.Config{Store: store, Logger: logger, RetrySchedule: schedule,
			Timeout: 2 * time.Second, Lease: 5 * time.Second, PollInterval: 50 * time.Millisecond,
			Policy: safehttp.Policy{AllowPrivate: true}, Now: o.now, Fetch: fetch})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Stop)
		cfg.Wake, cfg.Offers = d.Wake, d
	}
	contract := newContractChecker(t)
	srv.Config.Handler = contract.wrap(api.New(cfg))
	srv.Start()
	return &testBundle{store: store, dbPath: dbPath, srv: srv, operator: operator, logs: logs, contract: contract}
}

// response is an API answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do calls the API. A string or []byte body is sent as it is, anything else
// as JSON; a nil body sends none.
func (b *testBundle) do(t *testing.T, method, path, token string, body any) *response {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b.contract != nil {
		// Usually the answer's own problems; any the server had not
		// recorded yet wait for the next call or the end of the test.
		b.contract.report(t)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}
}

// want fails unless the answer has the status, and decodes it into out.
func (r *response) want(t *testing.T, status int, out any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// wantError fails unless the answer is the API's error shape with the
// status and code and a message, and returns the message.
func (r *response) wantError(t *testing.T, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q, want application/json", ct)
	}
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		t.Fatalf("body %s is not the error shape (%v)", r.body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q and a message", *e.Error, code)
	}
	return e.Error.Message
}

// tenant creates a tenant through the API and returns its admin token.
func (b *testBundle) tenant(t *testing.T, name string) string {
	t.Helper()
	var out struct{ ID, Token string }
	b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{"name": name}).want(t, http.StatusCreated, &out)
	if !strings.HasPrefix(out.ID, sluice.PrefixTenant) || !strings.HasPrefix(out.Token, sluice.TokenPrefix) {
		t.Fatalf("created tenant %+v", out)
	}
	return out.Token
}

// key creates a key of the role in token's tenant and returns its token.
func (b *testBundle) key(t *testing.T, token string, role sluice.Role) string {
	t.Helper()
	var out struct{ ID, Token string }
	b.do(t, "POST", "/v1/keys", token, map[string]any{"name": string(role), "role": role}).want(t, http.StatusCreated, &out)
	return out.Token
}

// destination is a destination as the API returns it.
type destination struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	URL                string   `json:"url"`
	EventTypes         []string `json:"event_types"`
	SourceIDs          []string `json:"source_ids"`
	Fields             []string `json:"fields"`
	RateLimitPerSecond *int     `json:"rate_limit_per_second"`
	Enabled            bool     `json:"enabled"`
	State              string   `json:"state"`
	DisabledReason     string   `json:"disabled_reason"`
	Secret             string   `json:"secret"`

	ConsecutiveFailures int        `json:"consecutive_failures"`
	FailingSince        *time.Time `json:"failing_since"`
	PausedReason        string     `json:"paused_reason"`
	NextProbeAt         *time.Time `json:"next_probe_at"`
}

// destination creates a destination from the fields given, named anew
// unless they name it, and returns it.
func (b *testBundle) destination(t *testing.T, token string, fields map[string]any) destination {
	t.Helper()
	if _, named := fields["name"]; !named {
		fields = maps.Clone(fields)
		fields["name"] = sluice.NewID("dst-")
	}
	var d destination
	b.do(t, "POST", "/v1/destinations", token, fields).want(t, http.StatusCreated, &d)
	return d
}

// publish publishes an event and returns its id.
func (b *testBundle) publish(t *testing.T, token string, body map[string]any) string {
	t.Helper()
	var out struct{ ID string }
	b.do(t, "POST", "/v1/events", token, body).want(t, http.StatusAccepted, &out)
	if !strings.HasPrefix(out.ID, sluice.PrefixEvent) {
		t.Fatalf("publish returned id %q", out.ID)
	}
	return out.ID
}

// delivery is a delivery as the API returns it.
type delivery struct {
	ID            string                `json:"id"`
	DestinationID string                `json:"destination_id"`
	Status        sluice.DeliveryStatus `json:"status"`
	Attempts      int                   `json:"attempts"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
}

func (b *testBundle) deliveries(t *testing.T, token, eventID string) []delivery {
	t.Helper()
	var out struct{ Data []delivery }
	b.do(t, "GET", "/v1/events/"+eventID+"/deliveries", token, nil).want(t, http.StatusOK, &out)
	return out.Data
}

// waitDeliveries polls an event's deliveries until ok accepts them.
func (b *testBundle) waitDeliveries(t *testing.T, token, eventID string, ok func([]delivery) bool) []delivery {
	t.Helper()
	var ds []delivery
	testkit.WaitFor(t, 10*time.Second, func() bool {
		ds = b.deliveries(t, token, eventID)
		return ok(ds)
	}, func() string { return fmt.Sprintf("deliveries of %s never reached the wanted state: %+v", eventID, ds) })
	return ds
}

// assertLogsClean fails if anything in secrets reached the logs.
func (b *testBundle) assertLogsClean(t *testing.T, secrets ...string) {
	t.Helper()
	logs := b.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the logs contain %q", s)
		}
	}
}
