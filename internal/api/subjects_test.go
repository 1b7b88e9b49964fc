package api_test

import (
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
