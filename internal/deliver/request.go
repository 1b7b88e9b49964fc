package deliver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/thin"
)

// defaultContentType is sent when the stored payload has none.
const defaultContentType = "application/json"

// Request is a delivery as it goes out: its body (what Body leaves of the
// payload, or a thin event), and the headers that sign it the Standard
// Webhooks way.
type Request struct {
	Header http.Header
	Body   []byte
}

// NewRequest returns the request of an attempt of the claimed delivery
// made at at, or the error class of an attempt that cannot be made:
// ErrClassSigning when the destination's secrets cannot sign, or a thin
// delivery's fetch URL cannot be made, ErrClassFields when the payload
// cannot be reduced to its field allowlist. A full delivery carries the
// payload (FullRequest); a thin one, the thin event that issuer makes,
// whose fetch answers with the full delivery's body. The dispatcher POSTs
// what it returns, and the listen API hands it to `sluice listen`, so a
// delivery reads and verifies the same whichever way it goes. Its
// headers are Sluice's own: the dispatcher adds the destination's static
// headers and credentials on the way out, and a listener is never handed
// them.
func NewRequest(c *sluice.Claim, at time.Time, issuer thin.Issuer) (*Request, string) {
	if !c.Destination.Thin() {
		return FullRequest(c, at)
	}
	// A destination hears only of events it may see: the fetch answers
	// with what a full delivery carries, so that must be made too.
	if _, errClass := Body(c); errClass != "" {
		return nil, errClass
	}
	body, ok := issuer.Event(c, at)
	if !ok {
		return nil, ErrClassSigning
	}
	return signedRequest(c, at, body, thinContentType)
}

// thinContentType is the type of a thin event.
const thinContentType = "application/json"

// FullRequest returns the request of a full delivery of the claim made at
// at: the payload as Body leaves it, signed. A thin delivery's fetch
// answers with it. Its error classes are NewRequest's.
func FullRequest(c *sluice.Claim, at time.Time) (*Request, string) {
	body, errClass := Body(c)
	if errClass != "" {
		return nil, errClass
	}
	contentType := c.ContentType
	if contentType == "" {
		contentType = defaultContentType
	}
	return signedRequest(c, at, body, contentType)
}

// signedRequest is the request carrying body, of the content type, for
// the claim at at, signed the Standard Webhooks way.
func signedRequest(c *sluice.Claim, at time.Time, body []byte, contentType string) (*Request, string) {
	// During a rotation's grace period both secrets sign.
	signer, err := signature.NewSigner(c.Destination.SigningSecrets(at)...)
	if err != nil {
		return nil, ErrClassSigning
	}
	h := make(http.Header, 7)
	h.Set("Content-Type", contentType)
	h.Set("User-Agent", sluice.UserAgent())
	h.Set(signature.HeaderID, c.Delivery.EventID)
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	// The signature covers exactly what is sent.
	h.Set(signature.HeaderSignature, signer.Sign(c.Delivery.EventID, at, body))
	h.Set(sluice.HeaderHops, strconv.Itoa(c.Hops+1))
	h.Set(sluice.HeaderEventType, c.EventType)
	return &Request{Header: h, Body: body}, ""
}

// Body returns what the claimed delivery's destination is sent of its
// event's payload, every control of what it may see applied, or the error
// class of a payload that cannot be reduced to what it may see
// (ErrClassFields): what the tenant restricts as personal data is
// withheld from a destination without a grant, then only the field
// allowlist is kept. A thin delivery's fetch answers with it too, so the
// destination reads the same whichever way it gets the payload.
func Body(c *sluice.Claim) ([]byte, string) {
	body := c.Body
	// Restricted data goes first, so that an allowlist cannot let it through.
	body, ok := withholdRestricted(c, body)
	if !ok {
		return nil, ErrClassFields
	}
	// Only the allowlisted fields leave Sluice.
	if len(c.Destination.Fields) > 0 {
		var err error
		if body, err = selectFields(body, c.Destination.Fields); err != nil {
			return nil, ErrClassFields
		}
	}
	var err error
	if body, err = pseudonymize(body, c); err != nil {
		return nil, ErrClassFields
	}
	return body, ""
}

// Outcome is what one try of a delivery came to.
type Outcome struct {
	Status   int    // the HTTP status; 0 when no response arrived
	ErrClass string // empty on success
	// RetryAfter is the delay a 429 or 503 asked for, when HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// HTTPOutcome is the outcome of a response of the status, with the
// Retry-After header value given, received at now: a 2xx succeeds, a 3xx
// fails as a redirect (redirects are not followed) and anything else
// fails with its status; a 429 or 503 keeps its Retry-After, up to an
// hour.
func HTTPOutcome(status int, retryAfter string, now time.Time) Outcome {
	out := Outcome{Status: status}
	switch {
	case status >= 200 && status < 300:
	case status >= 300 && status < 400:
		out.ErrClass = ErrClassRedirect
	default:
		out.ErrClass = ErrClassHTTPStatus
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		out.RetryAfter, out.HasRetryAfter = parseRetryAfter(retryAfter, now)
	}
	return out
}

// Result turns the outcome of an attempt of the claimed delivery, made at
// at and ended at end, into the attempt to record and the delivery's next
// state: succeeded on 2xx; exhausted with the destination disabled on
// 410; otherwise pending for the next attempt of the retry schedule (or
// after Retry-After), or exhausted when the schedule is used up.
func Result(c *sluice.Claim, o Outcome, schedule []time.Duration, at, end time.Time) *sluice.AttemptResult {
	r := &sluice.AttemptResult{Attempt: sluice.Attempt{
		ID:            sluice.NewID(sluice.PrefixAttempt),
		TenantID:      c.Delivery.TenantID,
		DeliveryID:    c.Delivery.ID,
		EventID:       c.Delivery.EventID,
		DestinationID: c.Delivery.DestinationID,
		Number:        c.Delivery.Attempts + 1,
		Outcome:       sluice.AttemptFailed,
		HTTPStatus:    o.Status,
		Duration:      end.Sub(at),
		Error:         o.ErrClass,
		At:            at,
	},
		EventType: c.EventType,
		Recovers:  c.Delivery.Recovers,
		Storage:   c.Storage,
		// A payload that cannot be minimized says nothing about the
		// destination's health.
		CountsForHealth: o.ErrClass != ErrClassFields,
	}
	switch {
	case o.ErrClass == "":
		r.Attempt.Outcome, r.Status = sluice.AttemptSucceeded, sluice.DeliverySucceeded
	case o.Status == http.StatusGone:
		r.Status, r.DisableDestination = sluice.DeliveryExhausted, sluice.DisabledGone
	case o.ErrClass == ErrClassFields:
		r.Status = sluice.DeliveryExhausted // the same payload will never minimize
	default:
		delay, ok := NextDelay(schedule, r.Attempt.Number, nil)
		switch {
		case !ok:
			r.Status = sluice.DeliveryExhausted
		case o.HasRetryAfter:
			r.Status, r.NextAttemptAt = sluice.DeliveryPending, end.Add(o.RetryAfter)
		default:
			r.Status, r.NextAttemptAt = sluice.DeliveryPending, end.Add(delay)
		}
	}
	return r
}
