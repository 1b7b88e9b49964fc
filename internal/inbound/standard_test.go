package inbound_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

// Test keys: "whsec_" and the base64 of 32 and 24 fixed bytes.
const (
	standardSecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	otherStdSecret = "whsec_c3ZpeC10ZXN0LWtleS0yNC1ieXRlcyEh"
)

func standardSource(secret string) *sluice.Verification {
	return &sluice.Verification{Type: sluice.VerifyStandardWebhooks, Secret: secret}
}

// standardSigned returns webhook-* headers signed by the Standard Webhooks
// reference library.
func standardSigned(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook: %v", err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatalf("standardwebhooks Sign: %v", err)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

// svixSigned returns svix-* headers signed by the Svix library.
func svixSigned(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatalf("svix.NewWebhook: %v", err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatalf("svix Sign: %v", err)
	}
	h := http.Header{}
	h.Set("svix-id", id)
	h.Set("svix-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("svix-signature", sig)
	return h
}

func TestVerifyStandardWebhooks(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"user.created","data":{"email":"ada@example.com"}}`)
	genuine := standardSigned(t, standardSecret, "msg_1", now, body)
	svixGenuine := svixSigned(t, standardSecret, "msg_1", now, body)
	otherKey := standardSigned(t, otherStdSecret, "msg_1", now, body)

	with := func(base http.Header, key, value string) http.Header {
		h := base.Clone()
		if value == "" {
			h.Del(key)
		} else {
			h.Set(key, value)
		}
		return h
	}
	merged := func(hs ...http.Header) http.Header {
		h := http.Header{}
		for _, x := range hs {
			for k, v := range x {
				h[k] = v
			}
		}
		return h
	}

	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{name: "standard-webhooks library", header: genuine, want: nil},
		{name: "svix library, svix-* headers", header: svixGenuine, want: nil},
		{name: "several signatures, the last matches", header: with(genuine, "webhook-signature", otherKey.Get("webhook-signature")+" v1a,c29tZQ== "+genuine.Get("webhook-signature")), want: nil},
		{name: "several signatures, the first matches", header: with(genuine, "webhook-signature", genuine.Get("webhook-signature")+" "+otherKey.Get("webhook-signature")), want: nil},
		{name: "incomplete webhook-* falls back to svix-*", header: merged(svixGenuine, http.Header{"Webhook-Id": {"msg_other"}}), want: nil},
		{name: "at the edge of the tolerance", header: genuine, now: now.Add(inbound.Tolerance), want: nil},
		{name: "tampered body", header: genuine, body: `{"type":"user.deleted"}`, want: inbound.ErrMismatch},
		{name: "wrong secret", header: otherKey, want: inbound.ErrMismatch},
		{name: "id changed", header: with(genuine, "webhook-id", "msg_2"), want: inbound.ErrMismatch},
		{name: "timestamp changed", header: with(genuine, "webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10)), want: inbound.ErrMismatch},
		{name: "v1 entry not base64", header: with(genuine, "webhook-signature", "v1,***"), want: inbound.ErrMismatch},
		{name: "no headers", header: http.Header{}, want: inbound.ErrMissing},
		{name: "no signature", header: with(genuine, "webhook-signature", ""), want: inbound.ErrMissing},
		{name: "no id", header: with(genuine, "webhook-id", ""), want: inbound.ErrMissing},
		{name: "no timestamp", header: with(svixGenuine, "svix-timestamp", ""), want: inbound.ErrMissing},
		{name: "stale: too old", header: genuine, now: now.Add(inbound.Tolerance + time.Second), want: inbound.ErrStale},
		{name: "stale: from the future", header: svixGenuine, now: now.Add(-inbound.Tolerance - time.Second), want: inbound.ErrStale},
		{name: "timestamp not a number", header: with(genuine, "webhook-timestamp", "yesterday"), want: inbound.ErrMalformed},
		{name: "no v1 entry", header: with(genuine, "webhook-signature", strings.Replace(genuine.Get("webhook-signature"), "v1,", "v2,", 1)), want: inbound.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, at := body, now
			if tc.body != "" {
				b = []byte(tc.body)
			}
			if !tc.now.IsZero() {
				at = tc.now
			}
			err := inbound.Verify(standardSource(standardSecret), tc.header, b, at)
			wantReason(t, err, tc.want, standardSecret, genuine.Get("webhook-signature"))
		})
	}
}

// Our test signatures must pass both reference verifiers, which read the
// real clock.
func TestSignStandardWebhooksValidatesWithLibraries(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"invoice.paid","id":"inv_1"}`)
	h, err := inbound.Sign(standardSource(standardSecret), body, "msg_2Lh9", time.Now())
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	sw, err := standardwebhooks.NewWebhook(standardSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Verify(body, h); err != nil {
		t.Errorf("standard-webhooks Verify: %v", err)
	}
	sv, err := svix.NewWebhook(standardSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Verify(body, h); err != nil {
		t.Errorf("svix Verify: %v", err)
	}
	if err := inbound.Verify(standardSource(standardSecret), h, body, time.Now()); err != nil {
		t.Errorf("Verify(Sign) = %v", err)
	}
	if got := h.Get("webhook-id"); got != "msg_2Lh9" {
		t.Errorf("webhook-id = %q, want msg_2Lh9", got)
	}
}

func TestSignStandardWebhooksNeedsID(t *testing.T) {
	t.Parallel()
	_, err := inbound.Sign(standardSource(standardSecret), []byte(`{}`), "", now)
	if sluice.ErrorCode(err) != sluice.EINVALID {
		t.Fatalf("Sign without id = %v, want an EINVALID error", err)
	}
}
