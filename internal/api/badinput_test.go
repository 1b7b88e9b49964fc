package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// badInputCase is one bad request and the error it must get.
type badInputCase struct {
	name         string
	method, path string
	// token is sent as "Authorization: Bearer <token>"; empty sends no
	// Authorization header, unless authorization is set, which is then sent
	// as the whole header value.
	token         string
	authorization string
	body          any // as b.do takes it
	status        int
	// secrets are values the request carried that the error message must
	// not repeat.
	secrets []string
}

// codeOf is the API's mapping of the statuses these cases expect to codes.
var codeOf = map[int]string{
	http.StatusBadRequest:            sluice.EINVALID,
	http.StatusUnauthorized:          sluice.EUNAUTHORIZED,
	http.StatusForbidden:             sluice.EFORBIDDEN,
	http.StatusNotFound:              sluice.ENOTFOUND,
	http.StatusRequestEntityTooLarge: sluice.ETOOLARGE,
	http.StatusMethodNotAllowed:      sluice.EMETHOD,
}

// tenantState is everything of a tenant that a bad request could change,
// read without changing anything (no payload reads: they are audited).
type tenantState struct {
	events       string   // GET /v1/events: every event's metadata and status
	deliveries   []string // GET /v1/events/{id}/deliveries of each event
	destinations string   // GET /v1/destinations: every destination's settings
	auditEntries int      // the audit log, read from the store
}

// stateOf reads the state of the tenant whose admin token is token.
func (b *testBundle) stateOf(t *testing.T, token, tenantID string) tenantState {
	t.Helper()
	var s tenantState
	res := b.do(t, "GET", "/v1/events?limit=500", token, nil)
	var events struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	res.want(t, http.StatusOK, &events)
	s.events = string(res.body)
	for _, e := range events.Data {
		d := b.do(t, "GET", "/v1/events/"+e.ID+"/deliveries", token, nil)
		d.want(t, http.StatusOK, nil)
		s.deliveries = append(s.deliveries, string(d.body))
	}
	res = b.do(t, "GET", "/v1/destinations?limit=500", token, nil)
	res.want(t, http.StatusOK, nil)
	s.destinations = string(res.body)
	entries, _, err := b.store.AuditLog(context.Background(), tenantID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	s.auditEntries = len(entries)
	return s
}

// doAuthorization is b.do with a raw Authorization header, for schemes
// other than Bearer.
func (b *testBundle) doAuthorization(t *testing.T, method, path, authorization string, body any) *response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	req.Header.Set("Content-Type", "application/json")
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}
}

// padTo pads a JSON body with trailing spaces to n bytes.
func padTo(body string, n int) string { return body + strings.Repeat(" ", n-len(body)) }

// Malformed JSON, oversize bodies, unknown ids, bad credentials and bad
// values each get a 4xx in the error shape with a message that does not
// repeat a secret, and neither tenant's events, deliveries, destinations or
// audit log change.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	// 1024 bytes is enough for every case below except the oversize ones.
	b := setupWith(t, setupOptions{noDispatcher: true, maxPayloadBytes: 1024})
	ctx := context.Background()
	opKey, err := b.store.OperatorKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	viewer := b.key(t, b.operator, sluice.RoleViewer)
	other := b.tenant(t, "other") // an admin, but not the operator
	otherKey, err := b.store.KeyByTokenHash(ctx, sluice.HashToken(other))
	if err != nil {
		t.Fatal(err)
	}
	dst := b.destination(t, b.operator, map[string]any{"name": "billing", "url": "https://example.com/hook"})
	evt := b.publish(t, b.operator, map[string]any{"type": "invoice.paid", "payload": map[string]int{"amount": 42}})
	b.destination(t, other, map[string]any{"url": "https://other.example.com/hook"})
	b.publish(t, other, map[string]any{"type": "invoice.paid", "payload": 1})

	const (
		badSecret     = "sk_live_notAWebhookSecret0123456789"
		badWhsec      = "whsec_!!not*base64!!"
		shortWhsec    = "whsec_c2hvcnQ=" // base64 of 5 bytes: too short
		urlPassword   = "hunter2-Pa55word"
		subjectEmail  = "ada@example.com"
		wrongToken    = "sk_wrong_0123456789abcdef0123456789abcdef"
		basicPassword = "basic-Pa55word"
	)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ada:"+basicPassword))
	okEvent := map[string]any{"type": "invoice.paid", "payload": map[string]int{"amount": 1}}
	okDestination := map[string]any{"url": "https://new.example.com/hook"}
	long := func(n int) string { return strings.Repeat("x", n) }
	event := func(kv ...any) map[string]any {
		m := map[string]any{"type": "invoice.paid", "payload": map[string]int{"amount": 1}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	subjects := func(s ...map[string]any) map[string]any { return event("subjects", s) }

	const (
		events       = "/v1/events"
		destinations = "/v1/destinations"
	)
	op := b.operator
	cases := []badInputCase{
		// Malformed JSON.
		{name: "publish truncated", method: "POST", path: events, token: op, body: `{"type":"invoice.paid","payload":{"amount":1}`, status: 400},
		{name: "publish cut in a string", method: "POST", path: events, token: op, body: `{"type":"invoice.pa`, status: 400},
		{name: "publish garbage", method: "POST", path: events, token: op, body: "this is not json", status: 400},
		{name: "publish binary", method: "POST", path: events, token: op, body: []byte{0xff, 0xfe, 0x00, 0x7b}, status: 400},
		{name: "publish trailing object", method: "POST", path: events, token: op, body: `{"type":"a.b","payload":1} {"type":"a.b","payload":2}`, status: 400},
		{name: "publish trailing garbage", method: "POST", path: events, token: op, body: `{"type":"a.b","payload":1}xyz`, status: 400},
		{name: "publish trailing brace", method: "POST", path: events, token: op, body: `{"type":"a.b","payload":1}}`, status: 400},
		{name: "publish array", method: "POST", path: events, token: op, body: `[{"type":"a.b","payload":1}]`, status: 400},
		{name: "publish string", method: "POST", path: events, token: op, body: `"a.b"`, status: 400},
		{name: "publish null", method: "POST", path: events, token: op, body: `null`, status: 400},
		{name: "publish empty body", method: "POST", path: events, token: op, body: "", status: 400},
		{name: "publish no body", method: "POST", path: events, token: op, body: nil, status: 400},
		{name: "destination truncated", method: "POST", path: destinations, token: op, body: `{"url":"https://example.com/h"`, status: 400},
		{name: "destination garbage", method: "POST", path: destinations, token: op, body: "url=https://example.com/h", status: 400},
		{name: "destination trailing data", method: "POST", path: destinations, token: op, body: `{"url":"https://example.com/h"},`, status: 400},
		{name: "destination array", method: "POST", path: destinations, token: op, body: `[{"url":"https://example.com/h"}]`, status: 400},
		{name: "destination empty body", method: "POST", path: destinations, token: op, body: "", status: 400},
		{name: "patch destination truncated", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: `{"enabled":false`, status: 400},
		{name: "key truncated", method: "POST", path: "/v1/keys", token: op, body: `{"name":"k","role":"admin"`, status: 400},
		{name: "tenant garbage", method: "POST", path: "/v1/tenants", token: op, body: "name=acme", status: 400},

		// Fields of the wrong type, missing or unknown.
		{name: "type a number", method: "POST", path: events, token: op, body: `{"type":7,"payload":1}`, status: 400},
		{name: "type an object", method: "POST", path: events, token: op, body: `{"type":{"name":"a.b"},"payload":1}`, status: 400},
		{name: "payload missing", method: "POST", path: events, token: op, body: event("payload", nil), status: 400},
		{name: "type missing", method: "POST", path: events, token: op, body: event("type", nil), status: 400},
		{name: "idempotency_key a number", method: "POST", path: events, token: op, body: event("idempotency_key", 12), status: 400},
		{name: "unknown field on publish", method: "POST", path: events, token: op, body: event("priority", "high"), status: 400},
		{name: "event_types a string", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "event_types": "*"}, status: 400},
		{name: "enabled a string", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "enabled": "false"}, status: 400},
		{name: "url a number", method: "POST", path: destinations, token: op, body: map[string]any{"url": 443}, status: 400},
		{name: "source_ids a string", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "source_ids": "src_1"}, status: 400},
		{name: "unknown field on destination", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "headers": map[string]string{"X": "y"}}, status: 400},
		{name: "patch enabled a string", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"enabled": "no"}, status: 400},
		{name: "key role a number", method: "POST", path: "/v1/keys", token: op, body: map[string]any{"name": "k", "role": 1}, status: 400},

		// Bad values on publish.
		{name: "type empty", method: "POST", path: events, token: op, body: event("type", ""), status: 400},
		{name: "type with spaces", method: "POST", path: events, token: op, body: event("type", "invoice paid"), status: 400},
		{name: "type with a tab", method: "POST", path: events, token: op, body: event("type", "invoice\tpaid"), status: 400},
		{name: "type with a wildcard", method: "POST", path: events, token: op, body: event("type", "invoice.*"), status: 400},
		{name: "type too long", method: "POST", path: events, token: op, body: event("type", long(256)), status: 400},
		{name: "type reserved prefix", method: "POST", path: events, token: op, body: event("type", "sluice.destination.disabled"), status: 400},
		{name: "idempotency_key too long", method: "POST", path: events, token: op, body: event("idempotency_key", long(256)), status: 400},
		{name: "subjects a string", method: "POST", path: events, token: op, body: event("subjects", subjectEmail), status: 400, secrets: []string{subjectEmail}},
		{name: "subjects of strings", method: "POST", path: events, token: op, body: event("subjects", []string{subjectEmail}), status: 400, secrets: []string{subjectEmail}},
		{name: "subject without type", method: "POST", path: events, token: op, body: subjects(map[string]any{"value": subjectEmail}), status: 400, secrets: []string{subjectEmail}},
		{name: "subject type with a space", method: "POST", path: events, token: op, body: subjects(map[string]any{"type": "e mail", "value": subjectEmail}), status: 400, secrets: []string{subjectEmail}},
		{name: "subject without value", method: "POST", path: events, token: op, body: subjects(map[string]any{"type": "email"}), status: 400},
		{name: "subject value blank", method: "POST", path: events, token: op, body: subjects(map[string]any{"type": "email", "value": "   "}), status: 400},
		{name: "subject unknown field", method: "POST", path: events, token: op, body: subjects(map[string]any{"type": "email", "value": subjectEmail, "hash": true}), status: 400, secrets: []string{subjectEmail}},

		// Bad values on destinations.
		{name: "url missing", method: "POST", path: destinations, token: op, body: map[string]any{"name": "x"}, status: 400},
		{name: "url null", method: "POST", path: destinations, token: op, body: map[string]any{"url": nil}, status: 400},
		{name: "url empty", method: "POST", path: destinations, token: op, body: map[string]any{"url": ""}, status: 400},
		{name: "url relative", method: "POST", path: destinations, token: op, body: map[string]any{"url": "/hooks"}, status: 400},
		{name: "url without host", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https:///hooks"}, status: 400},
		{name: "url opaque", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https:example.com"}, status: 400},
		{name: "url ftp", method: "POST", path: destinations, token: op, body: map[string]any{"url": "ftp://example.com/hooks"}, status: 400},
		{name: "url javascript", method: "POST", path: destinations, token: op, body: map[string]any{"url": "javascript:alert(1)"}, status: 400},
		{name: "url with credentials", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://ada:" + urlPassword + "@example.com/hooks"}, status: 400, secrets: []string{urlPassword}},
		{name: "url with a user", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://" + urlPassword + "@example.com/hooks"}, status: 400, secrets: []string{urlPassword}},
		{name: "secret not whsec_", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "secret": badSecret}, status: 400, secrets: []string{badSecret}},
		{name: "secret not base64", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "secret": badWhsec}, status: 400, secrets: []string{badWhsec}},
		{name: "secret too short", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "secret": shortWhsec}, status: 400, secrets: []string{shortWhsec}},
		{name: "event_types empty", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "event_types": []string{}}, status: 400},
		{name: "event_types a*b", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "event_types": []string{"a*b"}}, status: 400},
		{name: "event_types empty pattern", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "event_types": []string{""}}, status: 400},
		{name: "event_types with space", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "event_types": []string{"invoice paid"}}, status: 400},
		{name: "source_ids not src_", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "source_ids": []string{"dst_123"}}, status: 400},
		{name: "fields empty", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "fields": []string{}}, status: 400},
		{name: "fields bad path", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "fields": []string{"data..amount"}}, status: 400},
		{name: "fields not a list", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "fields": "id"}, status: 400},
		{name: "negative rate limit", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "rate_limit_per_second": -1}, status: 400},
		{name: "huge rate limit", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "rate_limit_per_second": 1 << 40}, status: 400},
		{name: "fractional rate limit", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "rate_limit_per_second": 2.5}, status: 400},
		{name: "name too long", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "name": long(201)}, status: 400},
		// A PATCH whose first field is good and whose second is bad changes
		// neither.
		{name: "patch name then bad url", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"name": "renamed", "url": "ftp://example.com/h"}, status: 400},
		{name: "patch disable then bad event_types", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"enabled": false, "event_types": []string{}}, status: 400},
		{name: "patch url with credentials", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"url": "https://ada:" + urlPassword + "@example.com/h"}, status: 400, secrets: []string{urlPassword}},
		{name: "patch secret", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"secret": badSecret}, status: 400, secrets: []string{badSecret}},
		{name: "patch fields with a space", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"fields": []string{"data amount"}}, status: 400},
		{name: "patch negative rate limit", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"rate_limit_per_second": -5}, status: 400},

		// Bad values on keys and tenants.
		{name: "key role unknown", method: "POST", path: "/v1/keys", token: op, body: map[string]any{"name": "k", "role": "owner"}, status: 400},
		{name: "key role missing", method: "POST", path: "/v1/keys", token: op, body: map[string]any{"name": "k"}, status: 400},
		{name: "key operator field", method: "POST", path: "/v1/keys", token: op, body: map[string]any{"name": "k", "role": "admin", "operator": true}, status: 400},
		{name: "tenant name missing", method: "POST", path: "/v1/tenants", token: op, body: map[string]any{}, status: 400},

		// Oversize bodies: over 1024 bytes.
		{name: "publish oversize payload", method: "POST", path: events, token: op, body: event("payload", long(2000)), status: 413},
		{name: "publish padded past the limit", method: "POST", path: events, token: op, body: `{"type":"a.b","payload":1}` + strings.Repeat(" ", 2000), status: 413},
		{name: "publish unterminated past the limit", method: "POST", path: events, token: op, body: `{"type":"a.b","payload":"` + long(2000), status: 413},
		{name: "publish one byte over the limit", method: "POST", path: events, token: op, body: padTo(`{"type":"a.b","payload":1}`, 1025), status: 413},
		{name: "destination oversize", method: "POST", path: destinations, token: op, body: map[string]any{"url": "https://example.com/h", "name": long(2000)}, status: 413},
		{name: "patch oversize", method: "PATCH", path: destinations + "/" + dst.ID, token: op, body: map[string]any{"name": long(2000)}, status: 413},
		{name: "key oversize", method: "POST", path: "/v1/keys", token: op, body: map[string]any{"name": long(2000), "role": "admin"}, status: 413},

		// Unknown ids, and another tenant's ids.
		{name: "get unknown destination", method: "GET", path: destinations + "/dst_nope", token: op, status: 404},
		{name: "patch unknown destination", method: "PATCH", path: destinations + "/dst_nope", token: op, body: map[string]any{"enabled": false}, status: 404},
		{name: "delete unknown destination", method: "DELETE", path: destinations + "/dst_nope", token: op, status: 404},
		{name: "secret of unknown destination", method: "GET", path: destinations + "/dst_nope/secret", token: op, status: 404},
		{name: "get unknown event", method: "GET", path: events + "/evt_nope", token: op, status: 404},
		{name: "deliveries of unknown event", method: "GET", path: events + "/evt_nope/deliveries", token: op, status: 404},
		{name: "attempts of unknown event", method: "GET", path: events + "/evt_nope/attempts", token: op, status: 404},
		{name: "delete unknown key", method: "DELETE", path: "/v1/keys/key_nope", token: op, status: 404},
		{name: "id with quotes", method: "GET", path: destinations + "/dst_'%20OR%20'1'='1", token: op, status: 404},
		{name: "id with NUL", method: "GET", path: events + "/evt_%00", token: op, status: 404},
		{name: "other tenant gets destination", method: "GET", path: destinations + "/" + dst.ID, token: other, status: 404},
		{name: "other tenant patches destination", method: "PATCH", path: destinations + "/" + dst.ID, token: other, body: map[string]any{"enabled": false}, status: 404},
		{name: "other tenant deletes destination", method: "DELETE", path: destinations + "/" + dst.ID, token: other, status: 404},
		{name: "other tenant reads secret", method: "GET", path: destinations + "/" + dst.ID + "/secret", token: other, status: 404},
		{name: "other tenant gets event", method: "GET", path: events + "/" + evt, token: other, status: 404},
		{name: "other tenant deletes operator key", method: "DELETE", path: "/v1/keys/" + opKey.ID, token: other, status: 404},

		// Missing and bad credentials, on requests that would otherwise succeed.
		{name: "no authorization list", method: "GET", path: events, status: 401},
		{name: "no authorization publish", method: "POST", path: events, body: okEvent, status: 401},
		{name: "no authorization tenant", method: "POST", path: "/v1/tenants", body: map[string]any{"name": "x"}, status: 401},
		{name: "wrong token publish", method: "POST", path: events, token: wrongToken, body: okEvent, status: 401, secrets: []string{wrongToken}},
		{name: "wrong token destination", method: "POST", path: destinations, token: wrongToken, body: okDestination, status: 401, secrets: []string{wrongToken}},
		{name: "wrong token delete", method: "DELETE", path: destinations + "/" + dst.ID, token: wrongToken, status: 401, secrets: []string{wrongToken}},
		{name: "basic scheme", method: "POST", path: events, authorization: basic, body: okEvent, status: 401, secrets: []string{basic, basicPassword}},
		{name: "basic scheme with operator token", method: "POST", path: events, authorization: "Basic " + op, body: okEvent, status: 401, secrets: []string{op}},
		{name: "operator token without scheme", method: "POST", path: events, authorization: op, body: okEvent, status: 401, secrets: []string{op}},
		{name: "bearer without token", method: "POST", path: events, authorization: "Bearer ", body: okEvent, status: 401},
		{name: "bearer blank token", method: "POST", path: events, authorization: "Bearer    ", body: okEvent, status: 401},

		// A viewer key: reads only.
		{name: "viewer publishes", method: "POST", path: events, token: viewer, body: okEvent, status: 403},
		{name: "viewer creates destination", method: "POST", path: destinations, token: viewer, body: okDestination, status: 403},
		{name: "viewer creates admin key", method: "POST", path: "/v1/keys", token: viewer, body: map[string]any{"name": "k", "role": "admin"}, status: 403},
		{name: "viewer deletes a key", method: "DELETE", path: "/v1/keys/" + opKey.ID, token: viewer, status: 403},
		{name: "viewer patches destination", method: "PATCH", path: destinations + "/" + dst.ID, token: viewer, body: map[string]any{"enabled": false}, status: 403},
		{name: "viewer deletes destination", method: "DELETE", path: destinations + "/" + dst.ID, token: viewer, status: 403},
		{name: "viewer reads secret", method: "GET", path: destinations + "/" + dst.ID + "/secret", token: viewer, status: 403},
		{name: "viewer creates tenant", method: "POST", path: "/v1/tenants", token: viewer, body: map[string]any{"name": "x"}, status: 403},
		{name: "non-operator admin creates tenant", method: "POST", path: "/v1/tenants", token: other, body: map[string]any{"name": "x"}, status: 403},
		{name: "delete operator key", method: "DELETE", path: "/v1/keys/" + opKey.ID, token: op, status: 403},

		// Bad list parameters.
		{name: "events limit 0", method: "GET", path: events + "?limit=0", token: op, status: 400},
		{name: "events limit 501", method: "GET", path: events + "?limit=501", token: op, status: 400},
		{name: "events limit abc", method: "GET", path: events + "?limit=abc", token: op, status: 400},
		{name: "events limit negative", method: "GET", path: events + "?limit=-1", token: op, status: 400},
		{name: "events limit huge", method: "GET", path: events + "?limit=99999999999999999999", token: op, status: 400},
		{name: "events status bogus", method: "GET", path: events + "?status=bogus", token: op, status: 400},
		{name: "destinations limit 0", method: "GET", path: destinations + "?limit=0", token: op, status: 400},
		{name: "destinations limit 501", method: "GET", path: destinations + "?limit=501", token: op, status: 400},
		{name: "destinations limit abc", method: "GET", path: destinations + "?limit=abc", token: viewer, status: 400},

		// Unknown routes (404) and wrong methods (405) get the error shape.
		{name: "unknown route", method: "GET", path: "/v1/nope", token: op, status: 404},
		{name: "unknown route unauthenticated", method: "POST", path: "/v1/sourcez", body: okEvent, status: 404},
		{name: "wrong method on events", method: "PUT", path: events, token: op, body: okEvent, status: 405},
		{name: "wrong method on event", method: "DELETE", path: events + "/" + evt, token: op, status: 405},
		{name: "wrong method on destination", method: "POST", path: destinations + "/" + dst.ID, token: op, body: okDestination, status: 405},
		{name: "wrong method on keys", method: "PUT", path: "/v1/keys", token: op, status: 405},
		{name: "wrong method on tenants", method: "DELETE", path: "/v1/tenants", token: op, status: 405},
	}

	tenants := []struct{ token, id string }{{b.operator, opKey.TenantID}, {other, otherKey.TenantID}}
	var allSecrets []string
	for _, c := range cases {
		allSecrets = append(allSecrets, c.secrets...)
		t.Run(c.name, func(t *testing.T) {
			// Not parallel: each case must find the state exactly as the
			// previous one left it, so a change is blamed on its cause.
			before := make([]tenantState, len(tenants))
			for i, ten := range tenants {
				before[i] = b.stateOf(t, ten.token, ten.id)
			}

			var res *response
			if c.authorization != "" {
				res = b.doAuthorization(t, c.method, c.path, c.authorization, c.body)
			} else {
				res = b.do(t, c.method, c.path, c.token, c.body)
			}
			code, ok := codeOf[c.status]
			if !ok {
				t.Fatalf("no code for status %d", c.status)
			}
			msg := res.wantError(t, c.status, code)
			for _, s := range c.secrets {
				if strings.Contains(msg, s) {
					t.Errorf("the message repeats a secret value the request carried")
				}
			}
			if c.status == http.StatusUnauthorized && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 with WWW-Authenticate %q, want a Bearer challenge", res.header.Get("WWW-Authenticate"))
			}

			for i, ten := range tenants {
				after := b.stateOf(t, ten.token, ten.id)
				if after.events != before[i].events {
					t.Errorf("tenant %d: events changed:\nbefore %s\nafter  %s", i, before[i].events, after.events)
				}
				if strings.Join(after.deliveries, "\n") != strings.Join(before[i].deliveries, "\n") {
					t.Errorf("tenant %d: deliveries changed:\nbefore %s\nafter  %s", i, before[i].deliveries, after.deliveries)
				}
				if after.destinations != before[i].destinations {
					// Not printed: a wrongly stored URL could carry credentials.
					t.Errorf("tenant %d: destinations changed", i)
				}
				if after.auditEntries != before[i].auditEntries {
					t.Errorf("tenant %d: %d audit entries, was %d", i, after.auditEntries, before[i].auditEntries)
				}
			}
		})
	}

	// The limit is exact: one byte less than the 413 case above is accepted.
	b.do(t, "POST", events, b.operator, padTo(`{"type":"a.b","payload":1}`, 1024)).want(t, http.StatusAccepted, nil)
	// The keys survived too: every token still works as it did.
	b.do(t, "GET", events, viewer, nil).want(t, http.StatusOK, nil)
	b.do(t, "POST", "/v1/keys", viewer, map[string]any{"name": "k", "role": "viewer"}).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)
	b.do(t, "GET", events, other, nil).want(t, http.StatusOK, nil)
	b.do(t, "GET", destinations+"/"+dst.ID, b.operator, nil).want(t, http.StatusOK, nil)
	b.assertLogsClean(t, append(allSecrets, urlPassword, badSecret, badWhsec, subjectEmail, wrongToken, basicPassword, b.operator, viewer, other)...)
}
