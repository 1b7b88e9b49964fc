package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
)

// A thin destination of the real server receives a signed thin event and
// no payload value; its fetch URL, on the server's own address, answers
// without credentials with the allowlisted payload, signed for the same
// secret; once the subject is erased it answers 410. Neither the token
// nor a payload value reaches the log.
func TestThinDeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	s := newSink(t, false)
	var dest struct{ ID, Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "thin", "url": s.srv.URL,
		"delivery": "thin", "fields": []string{"order", "email"}}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	s.setSecret(dest.Secret)
	marker, email := "thinmark"+randomHex(8), "thin"+randomHex(5)+"@example.com"
	id := publish(t, p, token, map[string]any{"type": "order.paid",
		"payload": map[string]any{"order": "ord_1", "email": email, "note": marker}})
	body := s.waitFor(t, []string{id}, 30*time.Second)[id] // the sink verified it
	if strings.Contains(string(body), marker) || strings.Contains(string(body), email) {
		t.Fatalf("the thin event carries the payload: %s", body)
	}
	var ev struct {
		ID             string    `json:"id"`
		Type           string    `json:"type"`
		CreatedAt      time.Time `json:"created_at"`
		FetchURL       string    `json:"fetch_url"`
		FetchExpiresAt time.Time `json:"fetch_expires_at"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != id || ev.Type != "order.paid" || ev.CreatedAt.IsZero() ||
		!strings.HasPrefix(ev.FetchURL, p.url+"/v1/fetch/") || time.Until(ev.FetchExpiresAt) < 10*time.Minute {
		t.Fatalf("thin event %s (%v)", body, err)
	}

	// The receiver fetches, as a receiver would: a plain GET.
	res, err := http.Get(ev.FetchURL)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := `{"email":"` + email + `","order":"ord_1"}`
	if res.StatusCode != http.StatusOK || string(payload) != want {
		t.Fatalf("fetch: %d %s, want 200 %s", res.StatusCode, payload, want)
	}
	wh, err := standardwebhooks.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(payload, res.Header); err != nil || res.Header.Get("webhook-id") != id {
		t.Fatalf("the fetched payload does not verify as event %s: %v", id, err)
	}

	if code := call(t, "POST", p.url+"/v1/erasures", token, map[string]any{
		"subject": map[string]string{"type": "email", "value": email}}, nil); code != http.StatusOK {
		t.Fatalf("erasure: %d", code)
	}
	res, err = http.Get(ev.FetchURL)
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusGone || !strings.Contains(string(gone), `"code":"gone"`) ||
		strings.Contains(string(gone), marker) {
		t.Fatalf("fetch after erasure: %d %s, want 410 gone", res.StatusCode, gone)
	}
	var audit struct {
		Data []struct {
			ActorKeyID string `json:"actor_key_id"`
			Action     string `json:"action"`
			ResourceID string `json:"resource_id"`
		}
	}
	call(t, "GET", p.url+"/v1/audit", token, nil, &audit)
	var fetches []string
	for _, e := range audit.Data {
		if e.ResourceID == id && e.ActorKeyID == dest.ID {
			fetches = append(fetches, e.Action)
		}
	}
	if strings.Join(fetches, ",") != "event.fetch_gone,event.fetch" {
		t.Errorf("fetch audit entries %v, want the gone fetch after the one that read", fetches)
	}
	tokenPart := strings.TrimPrefix(ev.FetchURL, p.url+"/v1/fetch/")
	for name, value := range map[string]string{"fetch token": tokenPart, "marker": marker, "email": email} {
		if strings.Contains(p.log(), value) {
			t.Errorf("the log contains the %s", name)
		}
	}
}
