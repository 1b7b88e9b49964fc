package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// A destination's history through the real binary: created with a real
// receiver's URL, patched, its secret rotated, each change in
// GET /v1/audit?resource_id= with what it changed, the URL and secrets as
// fingerprints, and neither the receiver's URL nor a secret in the answer
// or the log.
func TestAuditHistoryOfADestination(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	rcv := newReceiver(t)
	firstURL, secondURL := rcv.srv.URL+"/hooks-"+randomHex(8), rcv.srv.URL+"/hooks-"+randomHex(8)
	secret, _ := newWhsec()

	var dest struct{ ID, Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{
		"name": "audited", "url": firstURL, "secret": secret}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	rcv.setSecret(secret)
	publishAndWait(t, p, token, rcv)

	if code := call(t, "PATCH", p.url+"/v1/destinations/"+dest.ID, token, map[string]any{
		"url": secondURL, "rate_limit_per_second": 10}, nil); code != http.StatusOK {
		t.Fatalf("patch destination: %d", code)
	}
	var rotated struct{ Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations/"+dest.ID+"/rotate-secret", token,
		map[string]string{"grace_period": "1h"}, &rotated); code != http.StatusOK {
		t.Fatalf("rotate secret: %d", code)
	}
	rcv.setSecret(rotated.Secret)
	publishAndWait(t, p, token, rcv)

	res, body := getBody(t, p.url+"/v1/audit?resource_id="+dest.ID, token)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/audit?resource_id=: %d", res.StatusCode)
	}
	var history struct {
		Data []struct {
			Action  string `json:"action"`
			Changes []struct {
				Field string `json:"field"`
				Old   any    `json:"old"`
				New   any    `json:"new"`
			} `json:"changes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &history); err != nil {
		t.Fatal(err)
	}
	var actions []string
	changed := map[string]map[string][2]any{} // action → field → old, new
	for _, e := range history.Data {
		actions = append(actions, e.Action)
		changed[e.Action] = map[string][2]any{}
		for _, c := range e.Changes {
			changed[e.Action][c.Field] = [2]any{c.Old, c.New}
		}
	}
	if want := []string{"destination.secret_rotate", "destination.update", "destination.create"}; !slices.Equal(actions, want) {
		t.Fatalf("history %v, want %v", actions, want)
	}
	isFingerprint := func(v any) bool {
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, sluice.FingerprintPrefix)
	}
	created, updated, rotation := changed["destination.create"], changed["destination.update"], changed["destination.secret_rotate"]
	if !isFingerprint(created["url"][1]) || !isFingerprint(created["secret"][1]) || created["name"][1] != "audited" {
		t.Errorf("creation: %v", created)
	}
	if u := updated["url"]; u[0] != created["url"][1] || !isFingerprint(u[1]) || u[1] == u[0] ||
		updated["rate_limit_per_second"] != [2]any{nil, float64(10)} || len(updated) != 2 {
		t.Errorf("update: %v", updated)
	}
	if r := rotation["secret"]; r[0] != created["secret"][1] || !isFingerprint(r[1]) || r[1] == r[0] ||
		rotation["previous_secret"][1] != created["secret"][1] {
		t.Errorf("rotation: %v", rotation)
	}
	for _, value := range []string{rcv.srv.URL, firstURL, secondURL, strings.TrimPrefix(rcv.srv.URL, "http://"),
		secret, rotated.Secret, secret[len("whsec_"):], rotated.Secret[len("whsec_"):]} {
		if bytes.Contains(body, []byte(value)) {
			t.Errorf("the audit answer shows %q", value)
		}
		if strings.Contains(p.log(), value) {
			t.Errorf("the log shows %q", value)
		}
	}
}

// publishAndWait publishes an event and waits until the receiver has it.
func publishAndWait(t *testing.T, p *proc, token string, rcv *receiver) {
	t.Helper()
	var ev struct{ ID string }
	if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "order.created",
		"payload": map[string]any{"n": 1}}, &ev); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	if missing := rcv.waitFor([]string{ev.ID}, 20*time.Second); missing != 0 {
		t.Fatalf("event %s not delivered\n%s", ev.ID, p.log())
	}
}
