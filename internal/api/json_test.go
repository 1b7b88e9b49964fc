package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice"
)

// writeStored writes, by hand, what writeJSON writes for the same answer,
// and falls back to it for an id that would need escaping.
func TestWriteStoredMatchesWriteJSON(t *testing.T) {
	for _, tc := range []struct {
		field, id string
		duplicate bool
		storage   sluice.PayloadStorage
	}{
		{"id", "evt_01JD0000000000000000000000", false, sluice.StorageRetain},
		{"id", "evt_01JD0000000000000000000000", true, sluice.StorageRetain},
		{"event_id", "evt_01JD0000000000000000000000", false, sluice.StorageUntilDelivered},
		{"event_id", "evt_01JD0000000000000000000000", true, sluice.StorageRetain},
		{"id", "evt_01JD0000000000000000000000", false, sluice.StorageNone},
		{"event_id", "evt_01JD0000000000000000000000", true, sluice.StorageNone},
		{"id", "evt_\"quoted\"\\\n\u00e9<&>", true, sluice.StorageRetain},
		{"id", "evt_\"quoted\"\\\n\u00e9<&>", false, sluice.StorageNone},
	} {
		got := httptest.NewRecorder()
		writeStored(got, tc.field, &sluice.EventCreated{Event: &sluice.Event{ID: tc.id}, Duplicate: tc.duplicate,
			Storage: tc.storage})
		v := map[string]any{tc.field: tc.id}
		status := http.StatusAccepted
		if tc.duplicate {
			v["duplicate"] = true
			status = http.StatusOK
		}
		if tc.storage == sluice.StorageNone && !tc.duplicate {
			// A new event stored nowhere is not durable, and the answer says so.
			v["payload_storage"], v["durable"] = "none", false
		}
		want := httptest.NewRecorder()
		writeJSON(want, status, v)
		if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("%+v: status %d, %q; writeJSON %d, %q", tc, got.Code, got.Header().Get("Content-Type"),
				want.Code, want.Header().Get("Content-Type"))
		}
		var gotV, wantV map[string]any
		if err := json.Unmarshal(got.Body.Bytes(), &gotV); err != nil {
			t.Fatalf("%+v: body %q is not JSON: %v", tc, got.Body, err)
		}
		if err := json.Unmarshal(want.Body.Bytes(), &wantV); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotV, wantV) || !bytes.HasSuffix(got.Body.Bytes(), []byte("}\n")) {
			t.Errorf("%+v: body %q; writeJSON %q", tc, got.Body, want.Body)
		}
	}
}
