package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/testkit"
)

// source is a source as the API returns it.
type source struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Verification struct {
		Type      string `json:"type"`
		Secret    string `json:"secret"`
		Header    string `json:"header"`
		Algorithm string `json:"algorithm"`
		Encoding  string `json:"encoding"`
	} `json:"verification"`
	EventTypePath      string   `json:"event_type_path"`
	EventIDPath        string   `json:"event_id_path"`
	AllowedIPs         []string `json:"allowed_ips"`
	RateLimitPerSecond *int     `json:"rate_limit_per_second"`
	PayloadRetention   *string  `json:"payload_retention"`
	Enabled            bool     `json:"enabled"`
	IngestURL          string   `json:"ingest_url"`
}

// source creates a source from the fields given and returns it.
func (b *testBundle) source(t *testing.T, token string, fields map[string]any) source {
	t.Helper()
	var s source
	b.do(t, "POST", "/v1/sources", token, fields).want(t, http.StatusCreated, &s)
	return s
}

// ingest posts a webhook to a source's ingest URL as a provider would.
func (b *testBundle) ingest(t *testing.T, sourceID string, body []byte, header http.Header) *response {
	t.Helper()
	req, err := http.NewRequest("POST", b.srv.URL+"/in/"+sourceID, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}
}

// ingested is the answer to a webhook.
type ingested struct {
	EventID   string `json:"event_id"`
	Duplicate bool   `json:"duplicate"`
}

// storedPayload reads an event's payload straight from the store, as
// stored: the API's JSON answer would re-encode it.
func (b *testBundle) storedPayload(t *testing.T, eventID string) *sluice.Payload {
	t.Helper()
	ctx := context.Background()
	op, err := b.store.OperatorKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.store.Payload(ctx, op.TenantID, eventID)
	if err != nil {
		t.Fatalf("payload of %s: %v", eventID, err)
	}
	return p
}

// eventCount is how many events the default tenant has.
func (b *testBundle) eventCount(t *testing.T) int {
	t.Helper()
	var list struct{ Data []event }
	b.do(t, "GET", "/v1/events?limit=500", b.operator, nil).want(t, http.StatusOK, &list)
	return len(list.Data)
}

const stripeSecret = "whsec_test_stripe_signing_secret"

// stripeHeader signs body with stripe-go at ts.
func stripeHeader(body []byte, ts time.Time, secret string) http.Header {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts})
	return http.Header{"Stripe-Signature": {signed.Header}, "Content-Type": {"application/json; charset=utf-8"}}
}

// A Stripe webhook signed by stripe-go is stored byte for byte with its
// type, deduplicated on its id, and delivered to a subscribed destination
// with the original bytes and a Standard Webhooks signature of Sluice's.
func TestStripeWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	src := b.source(t, b.operator, map[string]any{"name": "stripe-live",
		"verification": map[string]string{"type": "stripe", "secret": stripeSecret}})
	if src.EventTypePath != "type" || src.EventIDPath != "id" || src.IngestURL != b.srv.URL+"/in/"+src.ID ||
		src.Verification.Type != "stripe" || src.Verification.Secret != "" || !src.Enabled {
		t.Fatalf("created source %+v", src)
	}
	dest := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL, "event_types": []string{"charge.*"},
		"source_ids": []string{src.ID}})

	body := []byte(`{"id": "evt_1Stripe", "type": "charge.succeeded",` + "\n" +
		` "data": {"object": {"customer_email": "ada@example.com"}}}`)
	header := stripeHeader(body, time.Now(), stripeSecret)
	header.Set("Cookie", "session=abc")
	header.Set("Authorization", "Bearer leaked")
	header.Set("X-Forwarded-For", "198.51.100.7")
	header.Set("X-Request-Id", "req_42")
	var first ingested
	b.ingest(t, src.ID, body, header).want(t, http.StatusAccepted, &first)

	var again ingested
	b.ingest(t, src.ID, body, stripeHeader(body, time.Now(), stripeSecret)).want(t, http.StatusOK, &again)
	if again.EventID != first.EventID || !again.Duplicate {
		t.Errorf("repeat answered %+v, want %s with duplicate", again, first.EventID)
	}
	if n := b.eventCount(t); n != 1 {
		t.Errorf("%d events stored after a provider retry, want 1", n)
	}

	var ev event
	b.do(t, "GET", "/v1/events/"+first.EventID, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.Type != "charge.succeeded" || ev.Direction != "inbound" || ev.SourceID == nil || *ev.SourceID != src.ID {
		t.Errorf("stored event %+v", ev)
	}
	p := b.storedPayload(t, first.EventID)
	if !bytes.Equal(p.Body, body) || p.ContentType != "application/json; charset=utf-8" {
		t.Errorf("stored body %q (%s), want the received bytes", p.Body, p.ContentType)
	}
	for _, h := range []string{"Stripe-Signature", "Cookie", "Authorization", "X-Forwarded-For"} {
		if p.Headers.Get(h) != "" {
			t.Errorf("stored headers keep %s", h)
		}
	}
	if p.Headers.Get("X-Request-Id") != "req_42" || p.Headers.Get("Content-Type") == "" {
		t.Errorf("stored headers %v lack X-Request-Id or Content-Type", p.Headers)
	}

	b.waitDeliveries(t, b.operator, first.EventID, func(ds []delivery) bool {
		return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded
	})
	hooks := recv.got()
	if len(hooks) != 1 || !bytes.Equal(hooks[0].body, body) {
		t.Fatalf("destination got %d requests, want 1 with the original bytes", len(hooks))
	}
	if ct := hooks[0].header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("delivered content-type %q, want the original", ct)
	}
	sw, err := standardwebhooks.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Verify(hooks[0].body, hooks[0].header); err != nil {
		t.Errorf("delivery does not verify with the destination's secret: %v", err)
	}
	if hooks[0].header.Get("Stripe-Signature") != "" {
		t.Error("the provider's signature was passed on")
	}
	b.assertLogsClean(t, stripeSecret, "ada@example.com", "evt_1Stripe", "leaked", "session=abc", "198.51.100.7")
}

// Forged, tampered, stale and unsigned webhooks get 401 and store nothing;
// the log names the source and the reason only.
func TestIngestRejectsBadSignatures(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "stripe", "secret": stripeSecret}})
	body := []byte(`{"id":"evt_2","type":"charge.failed"}`)
	now := time.Now()
	tests := []struct {
		name   string
		body   []byte
		header http.Header
	}{
		{"tampered body", []byte(`{"id":"evt_2","type":"charge.refunded"}`), stripeHeader(body, now, stripeSecret)},
		{"wrong secret", body, stripeHeader(body, now, "whsec_not_the_secret")},
		{"missing header", body, http.Header{}},
		{"stale", body, stripeHeader(body, now.Add(-6*time.Minute), stripeSecret)},
		{"future", body, stripeHeader(body, now.Add(6*time.Minute), stripeSecret)},
		{"malformed", body, http.Header{"Stripe-Signature": {"v1=,t="}}},
	}
	for _, tt := range tests {
		msg := b.ingest(t, src.ID, tt.body, tt.header).wantError(t, http.StatusUnauthorized, "unauthorized")
		if strings.Contains(msg, stripeSecret) {
			t.Errorf("%s: the message shows the secret", tt.name)
		}
	}
	if n := b.eventCount(t); n != 0 {
		t.Errorf("%d events stored from bad signatures, want 0", n)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, "source_id="+src.ID) || !strings.Contains(logs, "reason=stale") ||
		!strings.Contains(logs, "reason=mismatch") || !strings.Contains(logs, "reason=missing") {
		t.Errorf("refusals not logged with source and reason:\n%s", logs)
	}
	b.assertLogsClean(t, stripeSecret, "charge.refunded")
}

// Standard Webhooks senders, signing with the library (webhook-* headers)
// or as Svix does (svix-* headers), are accepted and deduplicated on
// webhook-id; GitHub's type and delivery id come from its headers.
func TestIngestHeaderDefaults(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	secret := signature.NewSecret()
	sw := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "standard-webhooks", "secret": secret}})
	if sw.EventTypePath != "type" || sw.EventIDPath != "header:webhook-id" {
		t.Errorf("standard-webhooks default paths %q, %q", sw.EventTypePath, sw.EventIDPath)
	}
	signer, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"user.created","data":{"id":7}}`)
	now := time.Now()
	sig, err := signer.Sign("msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	var first, second ingested
	b.ingest(t, sw.ID, body, http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}).
		want(t, http.StatusAccepted, &first)
	b.ingest(t, sw.ID, body, http.Header{"Svix-Id": {"msg_1"}, "Svix-Timestamp": {ts}, "Svix-Signature": {sig}}).
		want(t, http.StatusOK, &second)
	if !second.Duplicate || second.EventID != first.EventID {
		t.Errorf("the same webhook-id under svix-* headers answered %+v, want a duplicate of %s", second, first.EventID)
	}
	if p := b.storedPayload(t, first.EventID); p.Headers.Get("Webhook-Signature") != "" || p.Headers.Get("Webhook-Id") != "msg_1" {
		t.Errorf("stored headers %v: want the id kept and the signature dropped", p.Headers)
	}

	gh := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "github", "secret": "gh-secret"}})
	if gh.EventTypePath != "header:X-GitHub-Event" || gh.EventIDPath != "header:X-GitHub-Delivery" {
		t.Errorf("github default paths %q, %q", gh.EventTypePath, gh.EventIDPath)
	}
	ghBody := []byte(`{"action":"opened","number":1}`)
	var ghEvent ingested
	b.ingest(t, gh.ID, ghBody, http.Header{"X-Github-Event": {"pull_request"}, "X-Github-Delivery": {"d-1"},
		"X-Hub-Signature-256": {"sha256=" + hexHMAC("gh-secret", ghBody)}}).want(t, http.StatusAccepted, &ghEvent)
	var ev event
	b.do(t, "GET", "/v1/events/"+ghEvent.EventID, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.Type != "pull_request" {
		t.Errorf("github event type %q, want the X-GitHub-Event header", ev.Type)
	}
}

// A source without verification stores what comes; a missing or reserved
// type reads as unknown.
func TestIngestUnknownType(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	for _, body := range []string{`{"no":"type"}`, `not json at all`, `{"type":"sluice.destination.disabled"}`, `{"type":"has space"}`} {
		var got ingested
		b.ingest(t, src.ID, []byte(body), nil).want(t, http.StatusAccepted, &got)
		var ev event
		b.do(t, "GET", "/v1/events/"+got.EventID, b.operator, nil).want(t, http.StatusOK, &ev)
		if ev.Type != sluice.UnknownEventType {
			t.Errorf("body %q stored with type %q, want unknown", body, ev.Type)
		}
	}
}

// The allowlist admits the connection's address, or with a trusted proxy
// the client address it forwards; others get 403 and store nothing.
func TestIngestIPAllowlist(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true, trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	direct := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"},
		"allowed_ips": []string{"127.0.0.1", "::1"}})
	viaProxy := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"},
		"allowed_ips": []string{"203.0.113.0/24", "2001:db8::/32"}})
	if !slices.Equal(direct.AllowedIPs, []string{"127.0.0.1/32", "::1/128"}) {
		t.Errorf("allowed_ips read back as %v", direct.AllowedIPs)
	}
	body := []byte(`{"type":"a.b"}`)
	b.ingest(t, direct.ID, body, nil).want(t, http.StatusAccepted, nil)
	b.ingest(t, viaProxy.ID, body, nil).wantError(t, http.StatusForbidden, "forbidden")
	b.ingest(t, viaProxy.ID, body, http.Header{"X-Forwarded-For": {"203.0.113.9"}}).want(t, http.StatusAccepted, nil)
	b.ingest(t, viaProxy.ID, body, http.Header{"X-Forwarded-For": {"2001:db8::5, 127.0.0.1"}}).want(t, http.StatusAccepted, nil)
	// The client cannot pick its address by writing it further left.
	b.ingest(t, viaProxy.ID, body, http.Header{"X-Forwarded-For": {"203.0.113.9, 198.51.100.1"}}).
		wantError(t, http.StatusForbidden, "forbidden")
	if n := b.eventCount(t); n != 3 {
		t.Errorf("%d events stored, want the 3 admitted", n)
	}

	// Without trusted proxies X-Forwarded-For is not believed at all.
	strict := setupWith(t, setupOptions{noDispatcher: true})
	s := strict.source(t, strict.operator, map[string]any{"verification": map[string]string{"type": "none"},
		"allowed_ips": []string{"203.0.113.0/24"}})
	strict.ingest(t, s.ID, body, http.Header{"X-Forwarded-For": {"203.0.113.9"}}).wantError(t, http.StatusForbidden, "forbidden")
}

// Past its rate limit a source answers 429 with Retry-After and stores
// nothing; the next second admits again.
func TestIngestRateLimit(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Now())
	b := setupWith(t, setupOptions{noDispatcher: true, now: clock.Now})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}, "rate_limit_per_second": 2})
	body := []byte(`{"type":"a.b"}`)
	b.ingest(t, src.ID, body, nil).want(t, http.StatusAccepted, nil)
	b.ingest(t, src.ID, body, nil).want(t, http.StatusAccepted, nil)
	res := b.ingest(t, src.ID, body, nil)
	res.wantError(t, http.StatusTooManyRequests, "rate_limited")
	if secs, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After %q, want whole seconds", res.header.Get("Retry-After"))
	}
	clock.Advance(time.Second)
	b.ingest(t, src.ID, body, nil).want(t, http.StatusAccepted, nil)
	if n := b.eventCount(t); n != 3 {
		t.Errorf("%d events stored, want 3", n)
	}
}

// Unknown and disabled sources are 404; an oversize body is 413; neither
// stores anything. A source's own retention sets its payloads' expiry.
func TestIngestNotFoundTooLargeAndRetention(t *testing.T) {
	t.Parallel()
	clock := testkit.ClockAt(time.Now())
	b := setupWith(t, setupOptions{noDispatcher: true, maxPayloadBytes: 1024, now: clock.Now})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}, "payload_retention": "1h"})
	if src.PayloadRetention == nil || *src.PayloadRetention != "1h0m0s" {
		t.Errorf("payload_retention read back as %v", src.PayloadRetention)
	}
	b.ingest(t, "src_nope", []byte(`{}`), nil).wantError(t, http.StatusNotFound, "not_found")
	b.ingest(t, src.ID, bytes.Repeat([]byte("x"), 1025), nil).wantError(t, http.StatusRequestEntityTooLarge, "too_large")

	var got ingested
	b.ingest(t, src.ID, []byte(`{"type":"a.b"}`), nil).want(t, http.StatusAccepted, &got)
	if exp := b.storedPayload(t, got.EventID).ExpiresAt; !exp.Equal(clock.Now().Add(time.Hour).Truncate(time.Millisecond)) {
		t.Errorf("payload expires at %s, want the source's 1h after %s", exp, clock.Now())
	}

	b.do(t, "PATCH", "/v1/sources/"+src.ID, b.operator, map[string]any{"enabled": false}).want(t, http.StatusOK, nil)
	b.ingest(t, src.ID, []byte(`{}`), nil).wantError(t, http.StatusNotFound, "not_found")
	if n := b.eventCount(t); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
}
