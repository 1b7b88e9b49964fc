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
