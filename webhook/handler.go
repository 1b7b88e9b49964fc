package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"
)

// Defaults of HandlerOptions.
const (
	// DefaultMaxBodyBytes bounds the body read: 1 MiB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultDedupTTL is how long a handled id is remembered. It spans a
	// day of a sender's retries: an attempt whose 2xx answer was lost is
	// sent again, with the same id, minutes or hours later.
	DefaultDedupTTL = 24 * time.Hour
	// DefaultLease is how long an id is held while the wrapped handler
	// runs, should the process die before it finishes.
	DefaultLease = time.Minute
)

// ErrBodyTooLarge is reported to HandlerOptions.OnError for a body over
// the limit, answered 413.
var ErrBodyTooLarge = errors.New("webhook: body larger than the limit")

// HandlerOptions tune Handler; the zero value takes every default.
type HandlerOptions struct {
	// MaxBodyBytes bounds the body; a larger one is answered 413.
	// DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// Store remembers ids; a MemoryStore of this handler's own when nil.
	Store Store
	// DedupTTL is how long a handled id is remembered; DefaultDedupTTL
	// when zero. It is never less than twice the verifier's tolerance, so
	// that a captured request cannot be replayed while its timestamp
	// still verifies.
	DedupTTL time.Duration
	// Lease is how long an id is held while the wrapped handler runs;
	// DefaultLease when zero. Make it longer than that handler can take:
	// once it passes, a duplicate may be handled alongside.
	Lease time.Duration
	// OnError, when set, hears of each request answered without reaching
	// the wrapped handler for a reason other than being a duplicate
	// (verification failed, body too large or unreadable, store failed),
	// and of a store failing after the handler ran. The errors carry no
	// secret or signature.
	OnError func(r *http.Request, err error)
}

// Handler returns next wrapped so that it sees only verified requests, and
// each webhook-id once:
//
//   - the body is read up to MaxBodyBytes (413 beyond), and verified as
//     Verify does (401 with the reason when not; 500 when a secret is
//     malformed, so that the sender retries once that is fixed);
//   - the id is reserved in the Store: an id handled before is answered
//     200 "duplicate" without calling next, one being handled by another
//     request 409, so that the sender tries again later (the first may
//     yet fail); a store error is answered 503;
//   - next runs with the body restored and the Message in the request's
//     context (MessageFrom);
//   - when next answers 2xx the id is recorded as done; otherwise (or
//     when it panics) the reservation is released, so that the sender's
//     retry is handled afresh.
//
// Handler copies v: changing v afterwards does not change the handler.
func (v *Verifier) Handler(next http.Handler, opts HandlerOptions) http.Handler {
	h := &handler{next: next, verifier: *v, opts: opts}
	h.verifier.Secrets = slices.Clone(v.Secrets)
	if h.opts.MaxBodyBytes <= 0 {
		h.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if h.opts.Store == nil {
		h.opts.Store = &MemoryStore{}
	}
	if h.opts.DedupTTL <= 0 {
		h.opts.DedupTTL = DefaultDedupTTL
	}
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	h.opts.DedupTTL = max(h.opts.DedupTTL, 2*tolerance)
	if h.opts.Lease <= 0 {
		h.opts.Lease = DefaultLease
	}
	return h
}

type handler struct {
	next     http.Handler
	verifier Verifier
	opts     HandlerOptions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, ErrBodyTooLarge)
		} else {
			h.fail(w, r, http.StatusBadRequest, err)
		}
		return
	}
	msg, err := h.verifier.Verify(r.Header, body)
	switch {
	case errors.Is(err, ErrBadSecret):
		h.fail(w, r, http.StatusInternalServerError, err)
		return
	case err != nil:
		h.fail(w, r, http.StatusUnauthorized, err)
		return
	}
	status, err := h.opts.Store.Reserve(r.Context(), msg.ID, h.opts.Lease)
	switch {
	case err != nil:
		h.fail(w, r, http.StatusServiceUnavailable, err)
		return
	case status == StatusDone:
		http.Error(w, "webhook: duplicate, handled before", http.StatusOK)
		return
	case status == StatusInFlight:
		http.Error(w, "webhook: duplicate of a request still being handled; try again later", http.StatusConflict)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	inner := r.WithContext(context.WithValue(r.Context(), messageKey{}, msg))
	inner.Body = io.NopCloser(bytes.NewReader(body))
	inner.ContentLength = int64(len(body))
	returned := false
	defer func() {
		// Also when next panics: the id must not stay held, or every
		// retry would be answered 409 until the lease ends.
		h.settle(r, msg.ID, returned && rec.succeeded())
	}()
	h.next.ServeHTTP(rec, inner)
	returned = true
}

// settle records id as done after a success and releases it otherwise.
// The request's context may be cancelled by now (the sender hung up), and
// the store must hear either way.
func (h *handler) settle(r *http.Request, id string, succeeded bool) {
	ctx := context.WithoutCancel(r.Context())
	var err error
	if succeeded {
		err = h.opts.Store.Complete(ctx, id, h.opts.DedupTTL)
	} else {
		err = h.opts.Store.Release(ctx, id)
	}
	if err != nil && h.opts.OnError != nil {
		h.opts.OnError(r, err)
	}
}

// fail answers a request that does not reach next. The texts of this
// package's errors are safe to answer with; others (a store's, a read
// error) are only reported.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if h.opts.OnError != nil {
		h.opts.OnError(r, err)
	}
	text := http.StatusText(status)
	if status == http.StatusUnauthorized || status == http.StatusRequestEntityTooLarge {
		text = err.Error()
	}
	http.Error(w, text, status)
}

type messageKey struct{}

// MessageFrom returns the verified message of a request that Handler
// passed on, and whether there is one.
func MessageFrom(ctx context.Context) (Message, bool) {
	m, ok := ctx.Value(messageKey{}).(Message)
	return m, ok
}

// statusRecorder notes the status the wrapped handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 { // 1xx are interim, not the answer
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets a handler behind Handler stream, as it could without it.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writer's other abilities.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// succeeded reports whether the answer was 2xx; no answer at all is the
// 200 net/http sends for it.
func (s *statusRecorder) succeeded() bool {
	return s.status == 0 || s.status >= 200 && s.status < 300
}
