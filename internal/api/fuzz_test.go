package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// fuzzMaxPayloadBytes is the fuzz bundle's body limit: small, so the fuzzer
// reaches the 413 path as well.
const fuzzMaxPayloadBytes = 4096

// checkFuzzError fails unless res is a 400 or 413 (with an admin token no
// other 4xx applies) in the API's error shape with the code of its status,
// and a 413 only for a body over the limit.
func checkFuzzError(t *testing.T, res *response, body []byte) {
	t.Helper()
	if res.status < 400 || res.status > 499 {
		t.Fatalf("status %d, want a 2xx or a 4xx; body %s", res.status, res.body)
	}
	code, ok := map[int]string{
		http.StatusBadRequest:            sluice.EINVALID,
		http.StatusRequestEntityTooLarge: sluice.ETOOLARGE,
	}[res.status]
	if !ok {
		t.Fatalf("status %d, want 400 or 413; body %s", res.status, res.body)
	}
	res.wantError(t, res.status, code)
	if res.status == http.StatusRequestEntityTooLarge && len(body) <= fuzzMaxPayloadBytes {
		t.Fatalf("413 for a body of %d bytes, within the limit of %d", len(body), fuzzMaxPayloadBytes)
	}
}

// checkWithinLimit fails for a 2xx answer to a body over the limit.
func checkWithinLimit(t *testing.T, res *response, body []byte) {
	t.Helper()
	if len(body) > fuzzMaxPayloadBytes {
		t.Fatalf("%d for a body of %d bytes, over the limit of %d", res.status, len(body), fuzzMaxPayloadBytes)
	}
}

// compacted is data without insignificant space, or fails.
func compacted(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatalf("compact %q: %v", data, err)
	}
	return buf.Bytes()
}

// Whatever the body, publishing answers 202 or 200 or a 4xx in the error
// shape, never a 5xx; an accepted event reads back with its type, and its
// payload is stored byte for byte as sent and shown compacted.
func FuzzPublish(f *testing.F) {
	for _, seed := range []string{
		`{"type":"invoice.paid","payload":{"id":"inv_1","amount":42}}`,
		`{"type":"a","payload":null}`,
		`{"type":"a.b","payload":"<b>&amp;</b> \u2028 é 😀","idempotency_key":"k1"}`,
		`{"type":"a.b","payload":[1, 2.5e10, -0, true, false, null, {"x": {}}], "subjects":[{"type":"email","value":"ada@example.com"}]}`,
		`{"type":"a.b","payload":1}{"type":"a.b","payload":2}`,
		`{"type":"sluice.x","payload":1}`,
		`{"TYPE":"a.b","Payload":{}}`,
		`[1]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	b := setupWith(f, setupOptions{noDispatcher: true, maxPayloadBytes: fuzzMaxPayloadBytes})
	ctx := context.Background()
	op, err := b.store.OperatorKey(ctx)
	if err != nil {
		f.Fatal(err)
	}
	// A destination, so accepted events also get deliveries stored.
	if err := b.store.CreateDestination(ctx, &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination),
		TenantID: op.TenantID, URL: "https://example.com/hook", EventTypes: []string{"*"}, Secret: "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=",
		Enabled: true}); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		res := b.do(t, "POST", "/v1/events", b.operator, body)
		if res.status != http.StatusAccepted && res.status != http.StatusOK {
			checkFuzzError(t, res, body)
			return
		}

		// Accepted: the body was one JSON object with a type and a payload.
		checkWithinLimit(t, res, body)
		if !json.Valid(body) {
			t.Fatalf("%d for a body that is not valid JSON", res.status)
		}
		var sent struct {
			Type           string          `json:"type"`
			Payload        json.RawMessage `json:"payload"`
			IdempotencyKey string          `json:"idempotency_key"`
		}
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatalf("%d for a body that does not decode: %v", res.status, err)
		}
		var out struct {
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
		}
		res.want(t, res.status, &out)
		if !strings.HasPrefix(out.ID, sluice.PrefixEvent) {
			t.Fatalf("answer %s has no event id", res.body)
		}
		if (res.status == http.StatusOK) != out.Duplicate || (out.Duplicate && sent.IdempotencyKey == "") {
			t.Fatalf("status %d with duplicate %v and idempotency key %q", res.status, out.Duplicate, sent.IdempotencyKey)
		}

		var got struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		b.do(t, "GET", "/v1/events/"+out.ID, b.operator, nil).want(t, http.StatusOK, &got)
		if got.ID != out.ID {
			t.Fatalf("GET /v1/events/%s answered id %s", out.ID, got.ID)
		}
		if out.Duplicate {
			return // the first event's type and payload, not this body's
		}
		if got.Type != sent.Type {
			t.Errorf("type %q read back as %q", sent.Type, got.Type)
		}
		// The store keeps the payload's bytes exactly as they were sent...
		p, err := b.store.Payload(ctx, op.TenantID, out.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Body, sent.Payload) {
			t.Errorf("stored payload %q, sent %q", p.Body, sent.Payload)
		}
		// ...and the API shows them compacted inside its answer.
		if want := compacted(t, sent.Payload); !bytes.Equal(got.Payload, want) {
			t.Errorf("payload read back as %q, want %q", got.Payload, want)
		}
	})
}

// Whatever the body, creating a destination answers 201 or a 4xx in the
// error shape, never a 5xx; a created destination reads back as created.
func FuzzCreateDestination(f *testing.F) {
	for _, seed := range []string{
		`{"url":"https://example.com/hook"}`,
		`{"name":"billing","url":"https://billing.example.com/hooks?x=1#f","event_types":["invoice.*","customer.created"],"source_ids":["src_1"],"enabled":false}`,
		`{"url":"https://example.com/h","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`,
		`{"url":"http://127.0.0.1:8080/h","rate_limit_per_second":0,"fields":null}`,
		`{"url":"https://ada:pw@example.com/h"}`,
		`{"url":"ftp://example.com/h","event_types":["a*b"]}`,
		`{"url":"https://[::1]:99999/h"}`,
		`{"url":"https://example.com/h"} trailing`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	b := setupWith(f, setupOptions{noDispatcher: true, maxPayloadBytes: fuzzMaxPayloadBytes})

	f.Fuzz(func(t *testing.T, body []byte) {
		res := b.do(t, "POST", "/v1/destinations", b.operator, body)
		if res.status != http.StatusCreated {
			checkFuzzError(t, res, body)
			return
		}
		checkWithinLimit(t, res, body)
		if !json.Valid(body) {
			t.Fatal("201 for a body that is not valid JSON")
		}
		var sent struct {
			Name   string  `json:"name"`
			URL    string  `json:"url"`
			Secret *string `json:"secret"`
		}
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatalf("201 for a body that does not decode: %v", err)
		}
		var created destination
		res.want(t, http.StatusCreated, &created)
		if !strings.HasPrefix(created.ID, sluice.PrefixDestination) || !strings.HasPrefix(created.Secret, "whsec_") {
			t.Fatalf("created destination %q has no id or no whsec_ secret", created.ID)
		}
		if created.Name != sent.Name || created.URL != sent.URL {
			t.Error("the destination was created with another name or URL than sent") // not printed: either may carry anything
		}
		if sent.Secret != nil && created.Secret != *sent.Secret {
			t.Error("the secret sent is not the one answered")
		}

		var got destination
		b.do(t, "GET", "/v1/destinations/"+created.ID, b.operator, nil).want(t, http.StatusOK, &got)
		if got.ID != created.ID || got.URL != created.URL || got.Name != created.Name ||
			got.Enabled != created.Enabled || strings.Join(got.EventTypes, "\n") != strings.Join(created.EventTypes, "\n") ||
			strings.Join(got.SourceIDs, "\n") != strings.Join(created.SourceIDs, "\n") {
			t.Error("the destination reads back other than it was created") // not printed: the URL may carry anything
		}
		if got.Secret != "" {
			t.Error("GET /v1/destinations/{id} shows the secret")
		}
	})
}
