package bench

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

// workload builds the requests of a scenario: the same bytes go to the
// baseline and to the gateway, so both pay the same to receive them.
type workload struct {
	path  string // request path: /v1/events or /in/{source_id}
	token string // bearer token sent with each request; empty for ingest
	// eventType is every event's type, the run's own (see runEventType).
	eventType string
	// verify, for ingest, is the source's rule each body is signed with,
	// as the provider would sign it.
	verify *sluice.Verification
	size   int    // payload bytes
	filler string // at least size bytes of padding, sliced per event
	// idPrefix, for ingest, starts each event's id, which the gateway
	// deduplicates on.
	idPrefix string
	// subjectDomain, when set, puts the address customer-<n>@subjectDomain
	// in event n's payload: a data subject of its own, or with subjectPool
	// one of that many, customer-<n mod subjectPool>.
	subjectDomain string
	subjectPool   int64
}

// Payload framing. The filler pads each payload to its size; the event
// number, and with subjects the address, lie before it.
const (
	publishBefore = `{"seq":`
	// Stripe's default paths find the type at "type" and the id, which the
	// gateway deduplicates on, at "id"; each event's id is its own.
	typeBefore     = `{"type":"`
	ingestIDBefore = `","id":"`
	ingestIDPrefix = "evt_bench_"
	// subjectsIDPrefix keeps the ids of the subjects phase apart from the
	// first phase's, which the gateway would take for retries.
	subjectsIDPrefix = "evt_bench_s"
	emailBefore      = `,"email":"`
	fillerBefore     = `,"filler":"`
	payloadEnd       = `"}`
)

// subjectsParent is the domain under which each run's subject addresses
// lie: example domains are reserved (RFC 2606) and reach nobody.
const subjectsParent = "bench.example"

// runEventType is the type of a run's events, bench.<tag>.event: only the
// run's own destination subscribes to it, so two runs against one gateway
// (or two gateways on one database) do not deliver each other's events.
func runEventType(tag string) string {
	return "bench." + tag + ".event"
}

// newPublishWorkload posts events of type eventType with the admin token.
func newPublishWorkload(token, eventType string, size int) *workload {
	return &workload{path: "/v1/events", token: token, eventType: eventType, size: size,
		filler: strings.Repeat("x", size)}
}

// newIngestWorkload posts webhooks of type eventType to the source, signed
// with its rule.
func newIngestWorkload(sourceID string, v *sluice.Verification, eventType string, size int) *workload {
	return &workload{path: "/in/" + sourceID, verify: v, eventType: eventType, size: size,
		filler: strings.Repeat("x", size), idPrefix: ingestIDPrefix}
}

// withSubjects is w with the address customer-<n>@domain in event n's
// payload (n modulo pool, when pool is positive), the payload still w.size
// bytes, and for ingest ids apart from w's.
func (w *workload) withSubjects(domain string, pool int) *workload {
	s := *w
	s.subjectDomain, s.subjectPool = domain, int64(pool)
	if s.verify != nil {
		s.idPrefix = subjectsIDPrefix
	}
	return &s
}

// email is the address in event n's payload; empty without subjects.
func (w *workload) email(n int64) string {
	if w.subjectDomain == "" {
		return ""
	}
	return string(w.appendEmail(nil, n))
}

func (w *workload) appendEmail(b []byte, n int64) []byte {
	if w.subjectPool > 0 {
		n %= w.subjectPool
	}
	b = append(b, "customer-"...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, '@')
	return append(b, w.subjectDomain...)
}

// request returns the body and headers of event n sent at now. Signing
// happens here, per send, so a long open-loop run never sends a signature
// older than the gateway's tolerance.
func (w *workload) request(n int64, now time.Time) ([]byte, http.Header, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	if w.token != "" {
		h.Set("Authorization", "Bearer "+w.token)
	}
	if w.verify == nil {
		b := make([]byte, 0, w.size+64)
		b = append(b, typeBefore...)
		b = append(b, w.eventType...)
		b = append(b, `","payload":`...)
		b = w.appendPayload(b, n)
		return append(b, '}'), h, nil
	}
	body := w.appendPayload(make([]byte, 0, w.size+64), n)
	signed, err := inbound.Sign(w.verify, body, "", now)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range signed {
		h[k] = v
	}
	return body, h, nil
}

// appendPayload appends a JSON object of exactly w.size bytes, or as few as
// its fields take when they alone are longer.
func (w *workload) appendPayload(b []byte, n int64) []byte {
	start := len(b)
	if w.verify == nil {
		b = append(b, publishBefore...)
		b = strconv.AppendInt(b, n, 10)
	} else {
		b = append(b, typeBefore...)
		b = append(b, w.eventType...)
		b = append(b, ingestIDBefore...)
		b = append(b, w.idPrefix...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, '"')
	}
	if w.subjectDomain != "" {
		b = append(b, emailBefore...)
		b = w.appendEmail(b, n)
		b = append(b, '"')
	}
	b = append(b, fillerBefore...)
	pad := w.size - (len(b) - start) - len(payloadEnd)
	b = append(b, w.filler[:max(pad, 0)]...)
	return append(b, payloadEnd...)
}
