package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// GET /v1/keys lists a tenant's keys without their tokens, and GET
// /v1/erasures its erasures without their subjects, each tenant its own,
// admins only.
func TestListKeysAndErasures(t *testing.T) {
	eachStore(t, func(t *testing.T, o setupOptions) {
		o.noDispatcher = true
		b := setupWith(t, o)
		acmeToken := b.tenant(t, "acme")
		viewer := b.key(t, acmeToken, sluice.RoleViewer)
		b.do(t, "POST", "/v1/erasures", acmeToken,
			map[string]any{"subject": map[string]string{"type": "email", "value": "ada@example.com"}}).want(t, http.StatusOK, nil)

		var keys struct {
			Data []struct {
				ID, Name, Role string
				Operator       bool
			}
		}
		res := b.do(t, "GET", "/v1/keys", acmeToken, nil)
		res.want(t, http.StatusOK, &keys)
		if len(keys.Data) != 2 || strings.Contains(string(res.body), acmeToken) || strings.Contains(string(res.body), viewer) ||
			strings.Contains(string(res.body), "token") {
			t.Fatalf("acme's keys: %s", res.body)
		}
		var erasures struct {
			Data []struct {
				ID             string
				EventsMatched  int `json:"events_matched"`
				PayloadsErased int `json:"payloads_erased"`
			}
		}
		res = b.do(t, "GET", "/v1/erasures", acmeToken, nil)
		res.want(t, http.StatusOK, &erasures)
		if len(erasures.Data) != 1 || !strings.HasPrefix(erasures.Data[0].ID, sluice.PrefixErasure) ||
			strings.Contains(string(res.body), "ada@") {
			t.Fatalf("acme's erasures: %s", res.body)
		}
		b.do(t, "GET", "/v1/erasures", b.operator, nil).want(t, http.StatusOK, &erasures)
		if len(erasures.Data) != 0 {
			t.Fatalf("the operator's tenant sees %d of acme's erasures", len(erasures.Data))
		}
		b.do(t, "GET", "/v1/keys", viewer, nil).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)
		b.do(t, "GET", "/v1/erasures", viewer, nil).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)
	})
}

// GET /v1/destinations/{id}/deliveries pages a destination's deliveries,
// newest first, each naming its event; another tenant's destination is
// not found.
func TestListDestinationDeliveries(t *testing.T) {
	eachStore(t, func(t *testing.T, o setupOptions) {
		o.noDispatcher = true
		b := setupWith(t, o)
		d := b.destination(t, b.operator, map[string]any{"url": "https://example.com/h", "event_types": []string{"a.*"}})
		b.destination(t, b.operator, map[string]any{"url": "https://example.com/other", "event_types": []string{"b.*"}})
		var events []string
		for range 3 {
			events = append(events, b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": map[string]any{}}))
		}
		b.publish(t, b.operator, map[string]any{"type": "b.c", "payload": map[string]any{}})

		var page struct {
			Data []struct {
				ID, Status    string
				EventID       string `json:"event_id"`
				DestinationID string `json:"destination_id"`
			}
			NextCursor *string `json:"next_cursor"`
		}
		var got []string
		path := "/v1/destinations/" + d.ID + "/deliveries?limit=2"
		for {
			b.do(t, "GET", path, b.operator, nil).want(t, http.StatusOK, &page)
			for _, dl := range page.Data {
				if dl.DestinationID != d.ID || dl.Status != "pending" {
					t.Fatalf("a delivery of another destination, or not pending: %+v", dl)
				}
				got = append(got, dl.EventID)
			}
			if page.NextCursor == nil {
				break
			}
			path = "/v1/destinations/" + d.ID + "/deliveries?limit=2&cursor=" + *page.NextCursor
		}
		if len(got) != 3 || got[0] != events[2] || got[2] != events[0] {
			t.Fatalf("listed the deliveries of events %v; want %v newest first", got, events)
		}
		b.do(t, "GET", "/v1/destinations/"+d.ID+"/deliveries", b.tenant(t, "acme"), nil).
			wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
		b.do(t, "GET", "/v1/destinations/dst_nope/deliveries", b.operator, nil).
			wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
	})
}
