package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
)

// Bounds of the load test: how long clients start new publishes, how
// often the store's connections are broken meanwhile, and how often one
// publish is tried before the test gives up on it. A broken connection
// holds its place in the pool while pgx sends its cancel request, and a
// new one has to start: each a new server process. Break them much more
// often and hardly a publish gets through.
const (
	loadFor      = 2 * time.Second
	killEvery    = 200 * time.Millisecond
	maxPublishes = 100
)

// loadAnswer is one answer to a publish.
type loadAnswer struct {
	status    int
	id        string // a 2xx answer's event
	duplicate bool
	// unknownID is the event a 503 says it does not know the outcome of;
	// notStored says a 503 said the event was not stored. A 503 with
	// neither failed to read, before or after the event's transaction,
	// and says nothing of the event.
	unknownID string
	notStored bool
}

// loadPublish is one event a client publishes until it is answered 2xx:
// its type is its own, so the events stored for it can be counted.
type loadPublish struct {
	eventType string
	keyed     bool // sent with an idempotency key
	answers   []loadAnswer
}

var eventIDPattern = regexp.MustCompile(`evt_[0-9A-Z]+`)

// Events are published through the API while the store's sessions are
// terminated again and again (only theirs: they are tagged with an
// application_name). Clients retry on 5xx with the same body: with an
// idempotency key, each event is stored exactly once; without one, an
// event is stored twice only after an answer that said its outcome was
// unknown, and named it. No answer is 500, and none says an event was not
// stored when it was.
func TestPublishWhileSessionsAreTerminated(t *testing.T) {
	t.Parallel()
	schema := testkit.NewSchema(t)
	tag := "sluice_kill_" + schema
	killer := adminConn(t, "public")
	publishUnder(t, schema, "&application_name="+tag, nil, func(ctx context.Context) (int, error) {
		var n int
		err := killer.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, tag).Scan(&n)
		return n, err
	})
}

// The same with the store's connections cut at a proxy instead: unlike a
// terminated session, which sends the answers it owes before it ends, a
// cut connection can lose the answer to a COMMIT the server carried out.
func TestPublishWhileConnectionsAreCut(t *testing.T) {
	t.Parallel()
	p := newPGProxy(t)
	publishUnder(t, testkit.NewSchema(t), "", p, func(context.Context) (int, error) { return p.cut(), nil })
}

// publishUnder publishes events through the API on a store in the schema,
// its connection URL suffixed and through the proxy when one is given,
// while breaking its connections every killEvery with breakConns, which
// returns how many it broke; and checks what was stored against what was
// answered.
func publishUnder(t *testing.T, schema, urlSuffix string, proxy *pgProxy, breakConns func(context.Context) (int, error)) {
	ctx := context.Background()
	logs := &testlog.Buffer{}
	cfg := testkit.PostgresConfig(t, schema)
	cfg.URL += urlSuffix
	if proxy != nil {
		cfg.URL = proxy.url(cfg.URL)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	store := testkit.OpenStore(t, d, testkit.StoreOptions{})
	token := sluice.NewToken()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "t"}
	if err := store.CreateTenant(ctx, ten, &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(token)}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDestination(ctx, &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID,
		Name: "d", URL: "https://a.example.com/x", EventTypes: []string{"*"},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Store: store, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	t.Cleanup(client.CloseIdleConnections)

	stopAt := time.Now().Add(loadFor)
	broken := 0
	breakerDone := make(chan struct{})
	go func() {
		defer close(breakerDone)
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for range tick.C {
			if time.Now().After(stopAt) {
				return
			}
			n, err := breakConns(ctx)
			if err != nil {
				t.Errorf("break connections: %v", err)
				return
			}
			broken += n
		}
	}()

	var (
		mu        sync.Mutex
		publishes []*loadPublish
		wg        sync.WaitGroup
	)
	for c := range 6 {
		keyed := c < 4
		wg.Go(func() {
			for n := 0; time.Now().Before(stopAt); n++ {
				p := &loadPublish{eventType: fmt.Sprintf("load.c%d.n%d", c, n), keyed: keyed}
				publishUntilStored(t, client, srv.URL, token, p)
				mu.Lock()
				publishes = append(publishes, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-breakerDone

	stored := map[string][]string{} // event ids by type
	rows, err := adminConn(t, schema).Query(ctx, `SELECT type, id FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ, id string
		if err := rows.Scan(&typ, &id); err != nil {
			t.Fatal(err)
		}
		stored[typ] = append(stored[typ], id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	var requests, notStored, unknown, otherUnavailable, keyedDuplicates, keylessDuplicates int
	for _, p := range publishes {
		requests += len(p.answers)
		named := map[string]bool{} // events an answer said it did not know the outcome of
		for _, a := range p.answers {
			switch {
			case a.status == http.StatusServiceUnavailable && a.notStored:
				notStored++
			case a.status == http.StatusServiceUnavailable && a.unknownID != "":
				unknown++
				named[a.unknownID] = true
			case a.status == http.StatusServiceUnavailable:
				otherUnavailable++
			}
		}
		final := p.answers[len(p.answers)-1]
		ids := stored[p.eventType]
		if !slices.Contains(ids, final.id) {
			t.Errorf("%s: answered %s, which is not stored (stored: %v)", p.eventType, final.id, ids)
		}
		for _, id := range ids {
			if id != final.id && (p.keyed || !named[id]) {
				t.Errorf("%s: %s stored besides %s, and no answer said its outcome was unknown", p.eventType, id, final.id)
			}
		}
		if final.duplicate && (!p.keyed || !named[final.id]) {
			t.Errorf("%s: the first 2xx answer is a duplicate of %s, which no earlier answer named as unknown", p.eventType, final.id)
		}
		if p.keyed {
			keyedDuplicates += len(ids) - 1
		} else {
			keylessDuplicates += len(ids) - 1
		}
	}
	settled := func(outcome string) int { return strings.Count(logs.String(), "outcome="+outcome) }
	t.Logf("%d events published in %d requests; %d connections broken; 503s: %d not stored, %d outcome unknown, "+
		"%d a read failed; commits in doubt settled: %d committed, %d not committed, %d unknown; "+
		"duplicates: %d with idempotency keys, %d without",
		len(publishes), requests, broken, notStored, unknown, otherUnavailable,
		settled("committed"), settled("not_committed"), settled("unknown"), keyedDuplicates, keylessDuplicates)
	if keyedDuplicates != 0 {
		t.Errorf("%d events stored twice under one idempotency key", keyedDuplicates)
	}
	if broken == 0 {
		t.Error("no connection was broken: the test tested nothing")
	}
}

// publishUntilStored publishes p's event until it is answered 2xx,
// recording every answer, and fails the test on any answer but 2xx or a
// 503 that says what became of the event.
func publishUntilStored(t *testing.T, client *http.Client, base, token string, p *loadPublish) {
	body := map[string]any{"type": p.eventType, "payload": map[string]string{"at": p.eventType}}
	if p.keyed {
		body["idempotency_key"] = p.eventType
	}
	raw, _ := json.Marshal(body)
	for range maxPublishes {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", p.eventType, err)
			return
		}
		var out struct {
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
			Error     struct {
				Code, Message string
			} `json:"error"`
		}
		err = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if err != nil {
			t.Errorf("%s: answer %d: %v", p.eventType, res.StatusCode, err)
			return
		}
		a := loadAnswer{status: res.StatusCode, id: out.ID, duplicate: out.Duplicate}
		switch {
		case res.StatusCode == http.StatusAccepted || res.StatusCode == http.StatusOK:
			p.answers = append(p.answers, a)
			return
		case res.StatusCode != http.StatusServiceUnavailable || out.Error.Code != sluice.EUNAVAILABLE:
			t.Errorf("%s: answered %d %s: %s", p.eventType, res.StatusCode, out.Error.Code, out.Error.Message)
			return
		case res.Header.Get("Retry-After") == "":
			t.Errorf("%s: 503 without Retry-After", p.eventType)
		}
		switch {
		case strings.Contains(out.Error.Message, "was not stored"):
			a.notStored = true
		case strings.Contains(out.Error.Message, "is unknown"):
			a.unknownID = eventIDPattern.FindString(out.Error.Message)
		}
		p.answers = append(p.answers, a)
	}
	t.Errorf("%s: not stored after %d tries", p.eventType, maxPublishes)
}
