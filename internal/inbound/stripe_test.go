package inbound_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

const stripeSecret = "whsec_test_5a1c3e9b7d2f4a6c8e0b1d3f5a7c9e1b"

func stripeSource(secret string) *sluice.Verification {
	return &sluice.Verification{Type: sluice.VerifyStripe, Secret: secret}
}

// stripeSigned returns headers signed by stripe-go's own test signer.
func stripeSigned(body []byte, secret string, ts time.Time) http.Header {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h
}

func TestVerifyStripe(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid"}`)
	genuine := stripeSigned(body, stripeSecret, now).Get("Stripe-Signature")
	other := stripeSigned(body, "whsec_other", now).Get("Stripe-Signature")
	ts := strconv.FormatInt(now.Unix(), 10)
	otherV1 := other[len("t="+ts+",v1="):]
	genuineV1 := genuine[len("t="+ts+",v1="):]

	for _, tc := range []struct {
		name   string
		header string // "" leaves Stripe-Signature out
		body   []byte
		secret string
		now    time.Time
		want   error
	}{
		{name: "genuine", header: genuine, want: nil},
		{name: "at the past edge of the tolerance", header: genuine, now: now.Add(inbound.Tolerance), want: nil},
		{name: "at the future edge of the tolerance", header: genuine, now: now.Add(-inbound.Tolerance), want: nil},
		{name: "rolled secret, second v1 matches", header: "t=" + ts + ",v1=" + otherV1 + ",v1=" + genuineV1, want: nil},
		{name: "v0 and unknown entries ignored", header: genuine + ",v0=abcd,x=y", want: nil},
		{name: "spaces around entries", header: "t=" + ts + ", v1=" + genuineV1, want: nil},
		{name: "tampered body", header: genuine, body: []byte(`{"id":"evt_1","object":"event","type":"invoice.void"}`), want: inbound.ErrMismatch},
		{name: "wrong secret", header: genuine, secret: "whsec_wrong", want: inbound.ErrMismatch},
		{name: "signed with another secret", header: other, want: inbound.ErrMismatch},
		{name: "v1 not hex", header: "t=" + ts + ",v1=zz", want: inbound.ErrMismatch},
		{name: "timestamp changed", header: "t=" + strconv.FormatInt(now.Unix()+1, 10) + ",v1=" + genuineV1, want: inbound.ErrMismatch},
		{name: "missing header", header: "", want: inbound.ErrMissing},
		{name: "stale: too old", header: genuine, now: now.Add(inbound.Tolerance + time.Second), want: inbound.ErrStale},
		{name: "stale: from the future", header: genuine, now: now.Add(-inbound.Tolerance - time.Second), want: inbound.ErrStale},
		{name: "garbage", header: "garbage", want: inbound.ErrMalformed},
		{name: "no t", header: "v1=" + genuineV1, want: inbound.ErrMalformed},
		{name: "no v1", header: "t=" + ts, want: inbound.ErrMalformed},
		{name: "only v0", header: "t=" + ts + ",v0=" + genuineV1, want: inbound.ErrMalformed},
		{name: "t not a number", header: "t=soon,v1=" + genuineV1, want: inbound.ErrMalformed},
		{name: "negative t", header: "t=-1,v1=" + genuineV1, want: inbound.ErrMalformed},
		{name: "two t", header: "t=" + ts + ",t=" + ts + ",v1=" + genuineV1, want: inbound.ErrMalformed},
		{name: "empty entry", header: "t=" + ts + ",,v1=" + genuineV1, want: inbound.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set("Stripe-Signature", tc.header)
			}
			b, secret, at := body, stripeSecret, now
			if tc.body != nil {
				b = tc.body
			}
			if tc.secret != "" {
				secret = tc.secret
			}
			if !tc.now.IsZero() {
				at = tc.now
			}
			err := inbound.Verify(stripeSource(secret), h, b, at)
			wantReason(t, err, tc.want, secret, tc.header)
		})
	}
}

// Our test signatures must pass stripe-go's own verifier, which reads the
// real clock: so they are made at time.Now.
func TestSignStripeValidatesWithStripeGo(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_2","object":"event","type":"customer.created"}`)
	h, err := inbound.Sign(stripeSource(stripeSecret), body, "ignored", time.Now())
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	sig := h.Get("Stripe-Signature")
	if err := webhook.ValidatePayloadWithTolerance(body, sig, stripeSecret, inbound.Tolerance); err != nil {
		t.Errorf("stripe-go ValidatePayloadWithTolerance: %v", err)
	}
	if _, err := webhook.ConstructEventWithOptions(body, sig, stripeSecret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true}); err != nil {
		t.Errorf("stripe-go ConstructEventWithOptions: %v", err)
	}
	if err := webhook.ValidatePayload(body, sig, "whsec_wrong"); err == nil {
		t.Error("stripe-go accepted our signature under another secret")
	}
	if err := inbound.Verify(stripeSource(stripeSecret), h, body, time.Now()); err != nil {
		t.Errorf("Verify(Sign) = %v", err)
	}
	if len(h) != 1 {
		t.Errorf("Sign set %d headers, want only Stripe-Signature", len(h))
	}
}
