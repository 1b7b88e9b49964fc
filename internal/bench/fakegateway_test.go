package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
	"github.com/sluicehq/sluice/internal/subject"
)

// fakeGateway is just enough of Sluice's API for the engine: destinations
// and sources are created and deleted, and every published or ingested
// event is delivered to the one destination, some from a goroutine. Ingested
// webhooks must carry a valid Stripe signature. It tests the engine, not
// Sluice.
type fakeGateway struct {
	t         *testing.T
	failEvery int // answer 500 to every failEvery-th event
	dropEvery int // accept but never deliver every dropEvery-th event
	dropFrom  int // accept but never deliver the dropFrom-th event and later ones
	dupEvery  int // deliver every dupEvery-th event twice
	// deliverFirst delivers every event before answering, so all that
	// will arrive have arrived when the last answer is read.
	deliverFirst bool
	onPublish    func(n int)

	mu      sync.Mutex
	n       int
	dstURL  string
	dstType string // the one event type the destination subscribes to
	secret  string // the source's signing secret
	deleted []string
	// named counts the events naming each address, found as Sluice finds
	// them; unnamed counts the events naming none.
	named   map[string]int
	unnamed int
	wg      sync.WaitGroup
	client  *http.Client
}

func startFakeGateway(t *testing.T, g *fakeGateway) *httptest.Server {
	t.Helper()
	g.t = t
	g.client = &http.Client{Timeout: 10 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/destinations", g.createDestination)
	mux.HandleFunc("DELETE /v1/destinations/{id}", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.deleted = append(g.deleted, r.PathValue("id"))
		g.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/sources", g.createSource)
	mux.HandleFunc("DELETE /v1/sources/{id}", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.deleted = append(g.deleted, r.PathValue("id"))
		g.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/events", g.publish)
	mux.HandleFunc("POST /in/src_bench", g.ingest)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		g.wg.Wait()
	})
	return srv
}

func (g *fakeGateway) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"bad token"}}`)
		return false
	}
	return true
}

func (g *fakeGateway) createDestination(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	var d struct {
		Name       string   `json:"name"`
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	err := json.NewDecoder(r.Body).Decode(&d)
	oneType := len(d.EventTypes) == 1 && strings.HasPrefix(d.EventTypes[0], "bench.") &&
		!strings.Contains(d.EventTypes[0], "*")
	if err != nil || !strings.HasPrefix(d.Name, "bench-") || !strings.HasPrefix(d.URL, "http://127.0.0.1:") || !oneType {
		g.t.Errorf("create destination: %+v, %v", d, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.dstURL, g.dstType = d.URL, d.EventTypes[0]
	g.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"id":"dst_bench","name":"bench"}`)
}

func (g *fakeGateway) createSource(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	var s struct {
		Name         string
		Verification sluice.Verification
	}
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil || !strings.HasPrefix(s.Name, "bench-") ||
		s.Verification.Type != "stripe" || !strings.HasPrefix(s.Verification.Secret, "whsec_") {
		g.t.Errorf("create source: %+v, %v", s, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.secret = s.Verification.Secret
	g.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"id":"src_bench","name":"bench","ingest_url":"http://example.test/in/src_bench"}`)
}

func (g *fakeGateway) publish(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	var e struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil || e.Type != g.eventType() || len(e.Payload) < 100 {
		g.t.Errorf("publish: type %q, %d payload bytes, %v", e.Type, len(e.Payload), err)
	}
	g.noteSubjects(e.Payload)
	g.accept(w, e.Payload, "id")
}

// ingest checks the webhook the way Sluice does, with the real Stripe
// verifier, and its payload the way a Stripe source reads it.
func (g *fakeGateway) ingest(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		g.t.Errorf("ingest request carries the admin token")
	}
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	v := sluice.Verification{Type: sluice.VerifyStripe, Secret: g.secret}
	g.mu.Unlock()
	if err := inbound.Verify(&v, r.Header, body, time.Now()); err != nil {
		g.t.Errorf("ingest: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var e struct{ ID, Type string }
	if err := json.Unmarshal(body, &e); err != nil || e.Type != g.eventType() || !strings.HasPrefix(e.ID, "evt_bench_") {
		g.t.Errorf("ingest: id %q, type %q, %v", e.ID, e.Type, err)
	}
	g.noteSubjects(body)
	g.accept(w, body, "event_id")
}

// eventType is the type the bench destination subscribed to, which every
// event of the run must have.
func (g *fakeGateway) eventType() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dstType
}

// noteSubjects counts the addresses in a payload, with the finder Sluice
// runs on the same bytes.
func (g *fakeGateway) noteSubjects(payload []byte) {
	emails := subject.Emails(payload, "application/json")
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(emails) == 0 {
		g.unnamed++
	}
	for _, e := range emails {
		if g.named == nil {
			g.named = map[string]int{}
		}
		g.named[e]++
	}
}

// accept answers an event, naming its id in idField, and delivers it as
// the gateway was told to.
func (g *fakeGateway) accept(w http.ResponseWriter, payload []byte, idField string) {
	g.mu.Lock()
	g.n++
	n, dst := g.n, g.dstURL
	g.mu.Unlock()
	if g.onPublish != nil {
		g.onPublish(n)
	}
	if g.failEvery > 0 && n%g.failEvery == 0 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	id := fmt.Sprintf("evt_%06d", n)
	times := 1
	if g.dropEvery > 0 && n%g.dropEvery == 0 || g.dropFrom > 0 && n >= g.dropFrom {
		times = 0
	}
	if g.dupEvery > 0 && n%g.dupEvery == 0 {
		times = 2
	}
	if n%2 == 0 || times > 1 || g.deliverFirst {
		// Deliver before answering: the receiver sees the id first. Every
		// duplicate arrives so too, so none is still on its way when Run
		// counts them.
		g.deliver(dst, id, payload, times)
	} else {
		g.wg.Go(func() { g.deliver(dst, id, payload, times) })
	}
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{%q:%q}`, idField, id)
}

// deliver posts the event to the receiver times times. A failed post is no
// error here: it shows as a missing delivery, and the receiver may rightly
// be gone, closed by a Run that counted the event a moment before the
// answer was written or that ended early.
func (g *fakeGateway) deliver(url, id string, body []byte, times int) {
	for range times {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("webhook-id", id)
		resp, err := g.client.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			g.t.Errorf("deliver %s: status %d", id, resp.StatusCode)
		}
	}
}
