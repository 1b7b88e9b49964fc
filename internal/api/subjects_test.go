package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// erasureResult is the answer to POST /v1/erasures.
type erasureResult struct {
	EventsMatched  int `json:"events_matched"`
	PayloadsErased int `json:"payloads_erased"`
}

func (b *testBundle) erase(t *testing.T, typ, value string) erasureResult {
	t.Helper()
	var out erasureResult
	b.do(t, "POST", "/v1/erasures", b.operator, map[string]any{"subject": map[string]string{"type": typ, "value": value}}).
		want(t, http.StatusOK, &out)
	return out
}

// checkErasure holds the person named by typ and value to be found in the
// one event eventID and nowhere else: the export lists it, the erasure
// matches and erases it, and the export no longer lists it.
func (b *testBundle) checkErasure(t *testing.T, eventID, typ, value string) {
	t.Helper()
	if got := exportedIDs(b.export(t, b.operator, typ, value)); !slices.Equal(got, []string{eventID}) {
		t.Fatalf("export before the erasure: %v, want [%s]", got, eventID)
	}
	if got := b.erase(t, typ, value); got != (erasureResult{EventsMatched: 1, PayloadsErased: 1}) {
		t.Fatalf("erasure %+v, want 1 matched and 1 erased", got)
	}
	if got := exportedIDs(b.export(t, b.operator, typ, value)); len(got) != 0 {
		t.Fatalf("export after the erasure: %v, want none", got)
	}
}

// An address in a payload of any kind indexes its event, however the
// address is written there and however the erasure names it: the issue's
// misses, each through ingest or publish on a real store.
func TestErasureFindsEveryBodyKind(t *testing.T) {
	t.Parallel()
	eachStore(t, testErasureFindsEveryBodyKind)
}

func testErasureFindsEveryBodyKind(t *testing.T, o setupOptions) {
	o.noDispatcher = true
	b := setupWith(t, o)
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	many := make([]string, 150)
	for i := range many {
		many[i] = fmt.Sprintf(`"user%d@example.com"`, i)
	}
	for _, tc := range []struct {
		name        string
		publish     bool   // publish the body as an event's payload rather than ingest it
		contentType string // of an ingested body; none when empty
		body        string
		erase       string   // the address as the erasure names it
		alsoFound   []string // other addresses that find the event
	}{
		{name: "JSON", contentType: "application/json", body: `{"data":{"customer":{"email":"Ada.JSON@Example.com"}}}`,
			erase: "ada.json@example.com"},
		{name: "published JSON", publish: true, body: `{"note":"call back Ada.Published@Example.com"}`,
			erase: "ada.published@example.com"},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: "name=Ada&email=ada.form%40example.com&x=1",
			erase: "ada.form@example.com"},
		{name: "text", contentType: "text/plain; charset=utf-8", body: "Hello,\nplease write to Ada <ada.text@example.com>.\n",
			erase: "ada.text@example.com"},
		{name: "NDJSON", contentType: "application/x-ndjson", body: "{\"n\":1}\n{\"to\":\"ada.ndjson\\u0040example.com\"}\n",
			erase: "ada.ndjson@example.com"},
		{name: "XML", contentType: "application/xml", body: `<customer><email>ada.xml&#64;example.com</email></customer>`,
			erase: "ada.xml@example.com"},
		{name: "non-ASCII", contentType: "application/json", body: `{"email":"Jürgen.Müller@Bücher.example"}`,
			erase: "JÜRGEN.MÜLLER@xn--bcher-kva.example", alsoFound: []string{"jürgen.müller@bücher.example"}},
		{name: "percent-encoded", contentType: "text/plain", body: "unsubscribe https://x.example/u?e=ada.percent%40example.com",
			erase: "ada.percent%40example.com", alsoFound: []string{"Ada.Percent@example.com"}},
		{name: "150 addresses", contentType: "application/json", body: `{"to":[` + strings.Join(many, ",") + `]}`,
			erase: "user149@example.com", alsoFound: []string{"user0@example.com", "user100@example.com"}},
		{name: "JSON with the wrong type", contentType: "application/x-www-form-urlencoded",
			body: `{"email":"ada.wrong\u0040example.com"}`, erase: "ada.wrong@example.com"},
		{name: "form without a type", body: "email=ada.untyped%40example.com&note=hi+there", erase: "ada.untyped@example.com"},
	} {
		var eventID string
		if tc.publish {
			var payload any
			if err := json.Unmarshal([]byte(tc.body), &payload); err != nil {
				t.Fatal(err)
			}
			eventID = b.publish(t, b.operator, map[string]any{"type": "note.added", "payload": payload})
		} else {
			h := http.Header{}
			if tc.contentType != "" {
				h.Set("Content-Type", tc.contentType)
			}
			var in ingested
			b.ingest(t, src.ID, []byte(tc.body), h).want(t, http.StatusAccepted, &in)
			eventID = in.EventID
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, other := range tc.alsoFound {
				if got := exportedIDs(b.export(t, b.operator, "email", other)); !slices.Equal(got, []string{eventID}) {
					t.Errorf("export of %q: %v, want [%s]", other, got, eventID)
				}
			}
			b.checkErasure(t, eventID, "email", tc.erase)
		})
	}
	b.assertLogsClean(t, "example.com", "Bücher", "bücher")
}

// A source's subject paths take every subject type, phone included, and
// find values in JSON, headers and form fields.
func TestSubjectPathsEveryTypeAndPlace(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	paths := []map[string]string{
		{"path": "form:From", "type": "phone"},
		{"path": "form:customer[email]", "type": "email"},
		{"path": "data.customer", "type": "customer_id"},
		{"path": "header:X-User-Id", "type": "user_id"},
		{"path": "form:account", "type": "Acme.Account-ID"},
	}
	var created struct {
		SubjectPaths []map[string]string `json:"subject_paths"`
	}
	b.do(t, "POST", "/v1/sources", b.operator, map[string]any{"verification": map[string]string{"type": "none"},
		"event_type_path": "form:EventType", "event_id_path": "form:MessageSid", "subject_paths": paths}).
		want(t, http.StatusCreated, &created)
	if !slices.EqualFunc(created.SubjectPaths, paths, func(a, b map[string]string) bool {
		return a["path"] == b["path"] && a["type"] == b["type"]
	}) {
		t.Fatalf("created subject paths %v, want %v", created.SubjectPaths, paths)
	}
	var list struct{ Data []source }
	b.do(t, "GET", "/v1/sources", b.operator, nil).want(t, http.StatusOK, &list)
	src := list.Data[0]

	// A Twilio-like form webhook, and a JSON one with a header.
	form := "MessageSid=SM1&EventType=message.received&From=%2B1+%28555%29+010-9999" +
		"&customer%5Bemail%5D=Grace%40Example.org&account=AC-7&Body=hello"
	var fromForm, fromJSON ingested
	b.ingest(t, src.ID, []byte(form), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}).
		want(t, http.StatusAccepted, &fromForm)
	b.ingest(t, src.ID, []byte(form), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}).
		want(t, http.StatusOK, &ingested{}) // the form's MessageSid deduplicates it
	b.ingest(t, src.ID, []byte(`{"data":{"customer":"cus_9"}}`), http.Header{"Content-Type": {"application/json"},
		"X-User-Id": {"u-42"}}).want(t, http.StatusAccepted, &fromJSON)
	var ev event
	b.do(t, "GET", "/v1/events/"+fromForm.EventID, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.Type != "message.received" {
		t.Errorf("the form event's type is %q, want message.received from form:EventType", ev.Type)
	}

	for _, tc := range []struct{ typ, value, eventID string }{
		{"phone", "+1 555 010 9999", fromForm.EventID},
		{"email", "grace@example.org", fromForm.EventID},
		{"customer_id", "cus_9", fromJSON.EventID},
		{"user_id", "u-42", fromJSON.EventID},
	} {
		if got := exportedIDs(b.export(t, b.operator, tc.typ, tc.value)); !slices.Equal(got, []string{tc.eventID}) {
			t.Errorf("export of %s: %v, want [%s]", tc.typ, got, tc.eventID)
		}
	}
	if got := exportedIDs(b.export(t, b.operator, "acme.account-id", "AC-7")); !slices.Equal(got, []string{fromForm.EventID}) {
		t.Errorf("export of a custom type: %v, want [%s]", got, fromForm.EventID)
	}
	b.checkErasure(t, fromForm.EventID, "phone", "+1-555-010-9999")

	for _, bad := range []map[string]string{
		{"path": "form:", "type": "email"},
		{"path": "email", "type": "e-mail address"},
		{"path": "email", "type": ""},
	} {
		msg := b.do(t, "POST", "/v1/sources", b.operator, map[string]any{"verification": map[string]string{"type": "none"},
			"subject_paths": []map[string]string{bad}}).wantError(t, http.StatusBadRequest, "invalid")
		if !strings.HasPrefix(msg, "subject_paths: ") {
			t.Errorf("subject path %q: message %q does not name subject_paths", bad, msg)
		}
	}
}
