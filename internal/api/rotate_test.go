package api_test

import (
	"net/http"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
)

// verifies reports whether the Standard Webhooks library accepts h under secret.
func verifies(t *testing.T, secret string, h hook) bool {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(h.body, h.header) == nil
}

// During a rotation's grace period a delivery verifies with the old secret
// and the new one; once the old one's time is over, only with the new one.
func TestRotateSecret(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	dest := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL})
	original := dest.Secret

	var rotated struct{ Secret string }
	b.do(t, "POST", "/v1/destinations/"+dest.ID+"/rotate-secret", b.operator, map[string]string{"grace_period": "1h"}).
		want(t, http.StatusOK, &rotated)
	if rotated.Secret == original || !strings.HasPrefix(rotated.Secret, "whsec_") {
		t.Fatalf("rotation returned %q", rotated.Secret)
	}
	var current struct{ Secret string }
	b.do(t, "GET", "/v1/destinations/"+dest.ID+"/secret", b.operator, nil).want(t, http.StatusOK, &current)
	if current.Secret != rotated.Secret {
		t.Error("GET …/secret does not return the new secret")
	}

	first := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": 1})
	b.waitDeliveries(t, b.operator, first, func(ds []delivery) bool { return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded })
	h := recv.got()[0]
	if n := len(strings.Fields(h.header.Get("webhook-signature"))); n != 2 {
		t.Errorf("during the grace period webhook-signature has %d entries, want 2", n)
	}
	if !verifies(t, original, h) || !verifies(t, rotated.Secret, h) {
		t.Error("during the grace period the delivery does not verify with both secrets")
	}

	// A rotation without grace ends the previous secret at once.
	var again struct{ Secret string }
	b.do(t, "POST", "/v1/destinations/"+dest.ID+"/rotate-secret", b.operator, map[string]string{"grace_period": "0s"}).
		want(t, http.StatusOK, &again)
	second := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": 2})
	b.waitDeliveries(t, b.operator, second, func(ds []delivery) bool { return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded })
	h = recv.got()[1]
	if !verifies(t, again.Secret, h) || verifies(t, rotated.Secret, h) || verifies(t, original, h) {
		t.Error("after the grace period the delivery must verify with the new secret only")
	}

	b.do(t, "POST", "/v1/destinations/"+dest.ID+"/rotate-secret", b.operator, map[string]string{"grace_period": "-1h"}).
		wantError(t, http.StatusBadRequest, "invalid")
	b.do(t, "POST", "/v1/destinations/dst_nope/rotate-secret", b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.do(t, "POST", "/v1/destinations/"+dest.ID+"/rotate-secret", viewer, nil).wantError(t, http.StatusForbidden, "forbidden")
	b.assertLogsClean(t, original, rotated.Secret, again.Secret)
}
