package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/deliver"
)

// forwarderWorkers is how many deliveries the forwarder makes at once: as
// many as Sluice's delivery workers by default.
const forwarderWorkers = deliver.DefaultWorkers

// forwarderQueue is how many accepted events may wait for a delivery
// worker; beyond it an answer waits for room, as a gateway's would when
// its deliveries fall behind.
const forwarderQueue = 1 << 16

// forwarder is the least a webhook gateway built on net/http can do, the
// ceiling Sluice's figures are read against. It answers each publish
// (POST /v1/events, with {"id":…}) and each ingest (POST /in/{source_id},
// with {"event_id":…}) at once with a new id, puts the body on an
// in-memory queue, and has a pool of workers post each body, unparsed, to
// one destination over a keep-alive client, its id in the webhook-id
// header. It keeps nothing: no store, no authentication (the admin token
// is ignored), no validation, no encryption, no signing, no retries (a
// failed delivery is dropped and shows as missing). For ingest it does not
// verify the Stripe signature either, which Sluice does.
//
// It listens on loopback in the bench's process, as the baseline does, so
// it shares the cores with the load generator and the receiver as an
// in-process Sluice does.
type forwarder struct {
	ln     net.Listener // nil unless startForwarder serves it
	srv    *http.Server
	client *http.Client
	queue  chan forward
	// stop ends the workers, and the wait of an answer for room in the
	// queue, when the forwarder closes.
	stop   context.Context
	cancel context.CancelFunc
	// pending counts events accepted and not yet delivered or dropped.
	pending sync.WaitGroup
	workers sync.WaitGroup

	dst atomic.Pointer[string] // the destination URL; nil: none yet
}

// forward is an accepted event waiting for its delivery.
type forward struct {
	id   string
	body []byte
}

// startForwarder starts a forwarder with workers delivery workers,
// delivering to dst, and serves it on a loopback port.
func startForwarder(workers int, dst string) (*forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fw := newForwarder(workers, dst)
	fw.ln = ln
	fw.srv = &http.Server{Handler: fw.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = fw.srv.Serve(ln) }()
	return fw, nil
}

// newForwarder starts workers delivery workers, which deliver to dst; an
// empty dst waits for setDestination. It serves nothing until its handler
// is served: startForwarder does that.
func newForwarder(workers int, dst string) *forwarder {
	fw := &forwarder{
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConns: workers, MaxIdleConnsPerHost: workers},
			Timeout:   requestTimeout,
		},
		queue: make(chan forward, forwarderQueue),
	}
	fw.stop, fw.cancel = context.WithCancel(context.Background())
	if dst != "" {
		fw.setDestination(dst)
	}
	for range workers {
		fw.workers.Go(fw.work)
	}
	return fw
}

// setDestination makes url the destination of every delivery from now on.
func (fw *forwarder) setDestination(url string) { fw.dst.Store(&url) }

// handler serves the two ways events come in.
func (fw *forwarder) handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", func(w http.ResponseWriter, r *http.Request) { fw.accept(w, r, "id") })
	mux.HandleFunc("POST /in/{source_id}", func(w http.ResponseWriter, r *http.Request) { fw.accept(w, r, "event_id") })
	return mux
}

// accept queues the request's body for delivery under a new id and answers
// 202 with the id in idField.
func (fw *forwarder) accept(w http.ResponseWriter, r *http.Request, idField string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := "evt_" + rand.Text()
	fw.pending.Add(1)
	select {
	case fw.queue <- forward{id: id, body: body}:
	case <-fw.stop.Done():
		fw.pending.Done()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	out := make([]byte, 0, 64)
	out = append(out, `{"`...)
	out = append(out, idField...)
	out = append(out, `":"`...)
	out = append(out, id...)
	out = append(out, "\"}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(out)
}

// work delivers queued events until the forwarder closes.
func (fw *forwarder) work() {
	for {
		select {
		case f := <-fw.queue:
			fw.deliver(f)
			fw.pending.Done()
		case <-fw.stop.Done():
			return
		}
	}
}

// deliver posts f to the destination once. A failed delivery is dropped:
// Run counts it as missing.
func (fw *forwarder) deliver(f forward) {
	dst := fw.dst.Load()
	if dst == nil {
		return
	}
	req, err := http.NewRequestWithContext(fw.stop, http.MethodPost, *dst, bytes.NewReader(f.body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", f.id)
	resp, err := fw.client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// idle waits until every accepted event is delivered or dropped. No event
// may be sent to the forwarder while it waits.
func (fw *forwarder) idle() { fw.pending.Wait() }

func (fw *forwarder) url() string { return "http://" + fw.ln.Addr().String() }

// close stops the server and the workers at once, dropping what is still
// queued: the phase is over, and its client's idle connections would only
// hold a graceful shutdown up.
func (fw *forwarder) close() {
	fw.cancel()
	if fw.srv != nil {
		_ = fw.srv.Close()
	}
	fw.workers.Wait()
	fw.client.CloseIdleConnections()
}
