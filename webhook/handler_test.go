package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/webhook"
)

// handlerBundle is a Handler on a loopback server, with the secret that
// signs for it.
type handlerBundle struct {
	secret string
	srv    *httptest.Server
	errs   chan error // what OnError heard
}

// setupHandler serves next behind a Handler with opts, OnError replaced.
func setupHandler(t *testing.T, next http.Handler, opts webhook.HandlerOptions) *handlerBundle {
	t.Helper()
	b := &handlerBundle{secret: signature.NewSecret(), errs: make(chan error, 100)}
	opts.OnError = func(_ *http.Request, err error) { b.errs <- err }
	v := &webhook.Verifier{Secrets: []string{b.secret}}
	b.srv = httptest.NewServer(v.Handler(next, opts))
	t.Cleanup(b.srv.Close)
	return b
}

// send posts body signed for id at now, and returns the status and body of
// the answer.
func (b *handlerBundle) send(t *testing.T, id string, body []byte) (int, string) {
	t.Helper()
	now := time.Now()
	return b.post(t, headersFor(id, now, svixSign(t, b.secret, id, now, body)), body)
}

func (b *handlerBundle) post(t *testing.T, h http.Header, body []byte) (int, string) {
	t.Helper()
	code, text, err := b.tryPost(h, body)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	return code, text
}

// tryPost is post for goroutines other than the test's.
func (b *handlerBundle) tryPost(h http.Header, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, b.srv.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header = h
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got), err
}

// lastError returns what OnError heard last, or nil.
func (b *handlerBundle) lastError() error {
	var err error
	for {
		select {
		case err = <-b.errs:
		default:
			return err
		}
	}
}

// counting answers status and counts its calls by webhook-id.
type counting struct {
	mu     sync.Mutex
	calls  map[string]int
	status int
}

func newCounting(status int) *counting { return &counting{calls: map[string]int{}, status: status} }

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	msg, _ := webhook.MessageFrom(r.Context())
	c.mu.Lock()
	c.calls[msg.ID]++
	status := c.status
	c.mu.Unlock()
	w.WriteHeader(status)
}

func (c *counting) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

func (c *counting) answer(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = status
}

// The wrapped handler gets the body back, the verified message in its
// context, and a writer that still flushes.
func TestHandlerPassesVerifiedRequest(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"invoice.paid"}`)
	type seen struct {
		body    string
		length  int64
		msg     webhook.Message
		ok      bool
		flusher bool
	}
	got := make(chan seen, 1)
	b := setupHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		msg, ok := webhook.MessageFrom(r.Context())
		_, flusher := w.(http.Flusher)
		got <- seen{string(data), r.ContentLength, msg, ok, flusher}
		w.WriteHeader(http.StatusAccepted)
	}), webhook.HandlerOptions{})
	before := time.Now().Truncate(time.Second)
	if code, text := b.send(t, "evt_1", body); code != http.StatusAccepted {
		t.Fatalf("status %d (%s), want 202 from the wrapped handler", code, text)
	}
	s := <-got
	if s.body != string(body) || s.length != int64(len(body)) {
		t.Errorf("wrapped handler read %q (ContentLength %d), want %q", s.body, s.length, body)
	}
	if !s.ok || s.msg.ID != "evt_1" || s.msg.Timestamp.Before(before) || s.msg.Timestamp.After(time.Now()) {
		t.Errorf("MessageFrom = %+v, %v; want evt_1 signed just now", s.msg, s.ok)
	}
	if !s.flusher {
		t.Error("the wrapped handler's writer is not an http.Flusher")
	}
	if _, ok := webhook.MessageFrom(context.Background()); ok {
		t.Error("MessageFrom found a message in a bare context")
	}
}

func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	next := newCounting(http.StatusOK)
	b := setupHandler(t, next, webhook.HandlerOptions{})
	body := []byte(`{"a":1}`)
	now := time.Now()
	sig := svixSign(t, b.secret, "evt_1", now, body)
	tests := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"unsigned", http.Header{}, body, webhook.ErrMissingHeaders},
		{"tampered", headersFor("evt_1", now, sig), []byte(`{"a":2}`), webhook.ErrNoMatch},
		{"other secret", headersFor("evt_1", now, svixSign(t, signature.NewSecret(), "evt_1", now, body)), body, webhook.ErrNoMatch},
		{"stale", headersFor("evt_1", now.Add(-time.Hour), svixSign(t, b.secret, "evt_1", now.Add(-time.Hour), body)), body, webhook.ErrTooOld},
		{"future", headersFor("evt_1", now.Add(time.Hour), svixSign(t, b.secret, "evt_1", now.Add(time.Hour), body)), body, webhook.ErrTooNew},
	}
	for _, tt := range tests {
		code, text := b.post(t, tt.h, tt.body)
		if code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tt.name, code)
		}
		if strings.TrimSpace(text) != tt.want.Error() {
			t.Errorf("%s: answered %q, want %q", tt.name, text, tt.want)
		}
		if err := b.lastError(); !errors.Is(err, tt.want) {
			t.Errorf("%s: OnError heard %v, want %v", tt.name, err, tt.want)
		}
	}
	if n := next.count("evt_1"); n != 0 {
		t.Fatalf("the wrapped handler was called %d times for rejected requests", n)
	}
}

// A malformed secret is the receiver's fault: 500, so the sender retries.
func TestHandlerBadSecret(t *testing.T) {
	t.Parallel()
	next := newCounting(http.StatusOK)
	var heard error
	v := &webhook.Verifier{Secrets: []string{"whsec_short"}}
	srv := httptest.NewServer(v.Handler(next, webhook.HandlerOptions{OnError: func(_ *http.Request, err error) { heard = err }}))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	if !errors.Is(heard, webhook.ErrBadSecret) {
		t.Fatalf("OnError heard %v, want ErrBadSecret", heard)
	}
}

func TestHandlerBodyLimit(t *testing.T) {
	t.Parallel()
	next := newCounting(http.StatusOK)
	b := setupHandler(t, next, webhook.HandlerOptions{MaxBodyBytes: 64})
	if code, text := b.send(t, "evt_fits", bytes.Repeat([]byte("x"), 64)); code != http.StatusOK {
		t.Fatalf("64-byte body: status %d (%s), want 200", code, text)
	}
	if code, _ := b.send(t, "evt_big", bytes.Repeat([]byte("x"), 65)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("65-byte body: status %d, want 413", code)
	}
	if err := b.lastError(); !errors.Is(err, webhook.ErrBodyTooLarge) {
		t.Fatalf("OnError heard %v, want ErrBodyTooLarge", err)
	}
	if n := next.count("evt_big"); n != 0 {
		t.Fatalf("the wrapped handler saw the large body %d times", n)
	}

	// The default limit is 1 MiB.
	b = setupHandler(t, next, webhook.HandlerOptions{})
	if code, _ := b.send(t, "evt_mib", bytes.Repeat([]byte("x"), webhook.DefaultMaxBodyBytes)); code != http.StatusOK {
		t.Fatalf("1 MiB body: status %d, want 200", code)
	}
	if code, _ := b.send(t, "evt_over", bytes.Repeat([]byte("x"), webhook.DefaultMaxBodyBytes+1)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MiB + 1 body: status %d, want 413", code)
	}
}

// A message sent again, as a sender does when it did not hear the 2xx,
// is answered 200 without reaching the wrapped handler again.
func TestHandlerDropsDuplicates(t *testing.T) {
	t.Parallel()
	next := newCounting(http.StatusNoContent)
	b := setupHandler(t, next, webhook.HandlerOptions{})
	if code, _ := b.send(t, "evt_1", []byte(`{"n":1}`)); code != http.StatusNoContent {
		t.Fatalf("first: status %d, want 204", code)
	}
	// Each attempt is signed afresh; the id is what stays.
	for range 3 {
		if code, text := b.send(t, "evt_1", []byte(`{"n":1}`)); code != http.StatusOK || !strings.Contains(text, "duplicate") {
			t.Fatalf("again: status %d (%s), want 200 duplicate", code, text)
		}
	}
	if code, _ := b.send(t, "evt_2", []byte(`{"n":2}`)); code != http.StatusNoContent {
		t.Fatalf("another id: status %d, want 204", code)
	}
	if n1, n2 := next.count("evt_1"), next.count("evt_2"); n1 != 1 || n2 != 1 {
		t.Fatalf("wrapped handler called %d times for evt_1 and %d for evt_2, want once each", n1, n2)
	}
	if err := b.lastError(); err != nil {
		t.Fatalf("OnError heard %v for duplicates", err)
	}
}

// Of duplicates arriving together only one reaches the wrapped handler;
// those arriving while it runs are answered 409, since it may yet fail.
func TestHandlerConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	proceed := make(chan struct{})
	var calls atomic.Int32
	b := setupHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			close(entered)
			<-proceed
		}
	}), webhook.HandlerOptions{})
	release := sync.OnceFunc(func() { close(proceed) })
	t.Cleanup(release) // before the server's Close, which waits for the held request
	body := []byte(`{"a":1}`)
	now := time.Now()
	h := headersFor("evt_c", now, svixSign(t, b.secret, "evt_c", now, body))

	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			code, _, err := b.tryPost(h.Clone(), body)
			if err != nil {
				t.Error(err)
			}
			codes <- code
		})
	}
	close(start)
	// All but the one being handled are answered while it is held.
	byCode := map[int]int{}
	for range n - 1 {
		select {
		case code := <-codes:
			byCode[code]++
		case <-time.After(30 * time.Second):
			t.Fatalf("duplicates not answered while the first is handled: %v", byCode)
		}
	}
	<-entered
	release()
	wg.Wait()
	byCode[<-codes]++
	if got := calls.Load(); got != 1 {
		t.Fatalf("wrapped handler called %d times, want 1", got)
	}
	if byCode[http.StatusOK] != 1 || byCode[http.StatusConflict] != n-1 {
		t.Fatalf("answers by status %v, want one 200 and %d 409", byCode, n-1)
	}
	if code, text := b.post(t, h.Clone(), body); code != http.StatusOK || !strings.Contains(text, "duplicate") {
		t.Fatalf("after the first succeeded: status %d (%s), want 200 duplicate", code, text)
	}
}

// When the wrapped handler fails, the id is not remembered: the sender's
// retry reaches it, and only a success makes later ones duplicates.
func TestHandlerFailureIsRetried(t *testing.T) {
	t.Parallel()
	next := newCounting(http.StatusInternalServerError)
	b := setupHandler(t, next, webhook.HandlerOptions{})
	body := []byte(`{"a":1}`)
	if code, _ := b.send(t, "evt_f", body); code != http.StatusInternalServerError {
		t.Fatalf("first: status %d, want 500 from the wrapped handler", code)
	}
	next.answer(http.StatusBadRequest)
	if code, _ := b.send(t, "evt_f", body); code != http.StatusBadRequest {
		t.Fatalf("retry: status %d, want 400 from the wrapped handler", code)
	}
	next.answer(http.StatusOK)
	if code, _ := b.send(t, "evt_f", body); code != http.StatusOK {
		t.Fatalf("second retry: status %d, want 200", code)
	}
	if code, text := b.send(t, "evt_f", body); code != http.StatusOK || !strings.Contains(text, "duplicate") {
		t.Fatalf("after success: status %d (%s), want 200 duplicate", code, text)
	}
	if n := next.count("evt_f"); n != 3 {
		t.Fatalf("wrapped handler called %d times, want 3 (two failures, one success)", n)
	}
}

// A panic in the wrapped handler releases the id too.
func TestHandlerPanicReleases(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	var calls atomic.Int32
	v := &webhook.Verifier{Secrets: []string{sec}}
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
	}), webhook.HandlerOptions{})
	body := []byte(`{}`)
	serve := func() (code int, panicked bool) {
		defer func() { panicked = recover() != nil }()
		now := time.Now()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header = headersFor("evt_p", now, standardSign(t, sec, "evt_p", now, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, false
	}
	if _, panicked := serve(); !panicked {
		t.Fatal("the panic did not go through")
	}
	if code, _ := serve(); code != http.StatusOK || calls.Load() != 2 {
		t.Fatalf("after the panic: status %d with %d calls, want 200 from a second call", code, calls.Load())
	}
}

// fakeStore is a Store whose methods are the test's functions.
type fakeStore struct {
	reserve  func(id string, lease time.Duration) (webhook.Status, error)
	complete func(id string, ttl time.Duration) error
	release  func(id string) error
}

func (f *fakeStore) Reserve(_ context.Context, id string, lease time.Duration) (webhook.Status, error) {
	return f.reserve(id, lease)
}

func (f *fakeStore) Complete(_ context.Context, id string, ttl time.Duration) error {
	return f.complete(id, ttl)
}

func (f *fakeStore) Release(_ context.Context, id string) error { return f.release(id) }

// A store that fails turns the message away with 503, for the sender to
// retry; one failing after the handler ran is reported.
func TestHandlerStoreFailure(t *testing.T) {
	t.Parallel()
	down := errors.New("store down")
	var failReserve atomic.Bool
	failReserve.Store(true)
	store := &fakeStore{
		reserve: func(string, time.Duration) (webhook.Status, error) {
			if failReserve.Load() {
				return 0, down
			}
			return webhook.StatusNew, nil
		},
		complete: func(string, time.Duration) error { return down },
		release:  func(string) error { return nil },
	}
	next := newCounting(http.StatusOK)
	b := setupHandler(t, next, webhook.HandlerOptions{Store: store})
	if code, text := b.send(t, "evt_s", []byte(`{}`)); code != http.StatusServiceUnavailable || strings.Contains(text, "store down") {
		t.Fatalf("status %d (%q), want 503 not showing the store's error", code, text)
	}
	if n := next.count("evt_s"); n != 0 {
		t.Fatalf("wrapped handler called %d times", n)
	}
	if err := b.lastError(); !errors.Is(err, down) {
		t.Fatalf("OnError heard %v, want the store's error", err)
	}
	failReserve.Store(false)
	if code, _ := b.send(t, "evt_s", []byte(`{}`)); code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	if err := b.lastError(); !errors.Is(err, down) {
		t.Fatalf("OnError heard %v, want the store's error from Complete", err)
	}
}

// The store is asked to remember ids for DedupTTL, and never for less than
// twice the tolerance; reservations last the lease.
func TestHandlerDurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts               webhook.HandlerOptions
		tolerance          time.Duration
		wantTTL, wantLease time.Duration
	}{
		{webhook.HandlerOptions{}, 0, webhook.DefaultDedupTTL, webhook.DefaultLease},
		{webhook.HandlerOptions{DedupTTL: time.Hour, Lease: 5 * time.Second}, 0, time.Hour, 5 * time.Second},
		{webhook.HandlerOptions{DedupTTL: time.Second}, 0, 2 * webhook.DefaultTolerance, webhook.DefaultLease},
		{webhook.HandlerOptions{DedupTTL: time.Second}, time.Hour, 2 * time.Hour, webhook.DefaultLease},
	}
	for _, tt := range tests {
		var gotTTL, gotLease time.Duration
		tt.opts.Store = &fakeStore{
			reserve: func(_ string, lease time.Duration) (webhook.Status, error) {
				gotLease = lease
				return webhook.StatusNew, nil
			},
			complete: func(_ string, ttl time.Duration) error { gotTTL = ttl; return nil },
			release:  func(string) error { return nil },
		}
		sec := signature.NewSecret()
		v := &webhook.Verifier{Secrets: []string{sec}, Tolerance: tt.tolerance}
		h := v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tt.opts)
		now := time.Now()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		req.Header = headersFor("evt_d", now, svixSign(t, sec, "evt_d", now, []byte(`{}`)))
		h.ServeHTTP(httptest.NewRecorder(), req)
		if gotTTL != tt.wantTTL || gotLease != tt.wantLease {
			t.Errorf("options %+v, tolerance %v: ttl %v and lease %v, want %v and %v",
				tt.opts, tt.tolerance, gotTTL, gotLease, tt.wantTTL, tt.wantLease)
		}
	}
}

// Handler keeps its own copy of the secrets.
func TestHandlerCopiesVerifier(t *testing.T) {
	t.Parallel()
	next := newCounting(http.StatusOK)
	sec := signature.NewSecret()
	v := &webhook.Verifier{Secrets: []string{sec}}
	h := v.Handler(next, webhook.HandlerOptions{})
	v.Secrets[0] = signature.NewSecret()
	now := time.Now()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	req.Header = headersFor("evt_k", now, svixSign(t, sec, "evt_k", now, []byte(`{}`)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || next.count("evt_k") != 1 {
		t.Fatalf("status %d, want 200 with the secret given at construction", rec.Code)
	}
}
