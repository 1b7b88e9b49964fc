package main_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// Access reviews against the real binary: a key's last use shows in
// GET /v1/keys, a key created to expire stops working for the API and the
// dashboard alike, and a deleted key's dashboard session reads nothing on
// its next request. Sign-ins are audited.
func TestAccessReview(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	accessReviewScenario(t, token, p, p)
}

// On a shared PostgreSQL a key deleted through one process ends its
// dashboard sessions in another at once, and an expiry holds in both.
func TestAccessReviewAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	first := c.start(t, "")
	c.requireMigratedSchema(t)
	second := c.start(t, "")
	accessReviewScenario(t, c.token, first, second)
}

// dashboard is a client signed in to the dashboard of a process: it keeps
// cookies and does not follow redirects.
type dashboard struct {
	t      *testing.T
	base   string
	client *http.Client
}

// signInDashboard signs in to p's dashboard with token, as a client that is
// no browser may, and returns the status of the answer (303 when signed
// in) and the client.
func signInDashboard(t *testing.T, p *proc, token string) (int, *dashboard) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &dashboard{t: t, base: p.url, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, err := d.client.PostForm(p.url+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, d
}

// get fetches a page: its status, where it redirects and its body.
func (d *dashboard) get(path string) (int, string, string) {
	d.t.Helper()
	res, err := d.client.Get(d.base + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Location"), string(body)
}

// listedKey is a key as GET /v1/keys shows it.
type listedKey struct {
	ID         string     `json:"id"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func keyListed(t *testing.T, p *proc, token, id string) listedKey {
	t.Helper()
	var list struct{ Data []listedKey }
	if code := call(t, "GET", p.url+"/v1/keys?limit=100", token, nil, &list); code != http.StatusOK {
		t.Fatalf("GET /v1/keys: %d", code)
	}
	for _, k := range list.Data {
		if k.ID == id {
			return k
		}
	}
	t.Fatalf("GET /v1/keys lacks %s", id)
	return listedKey{}
}

// accessReviewScenario uses keys at one process and reviews and deletes
// them through via (the same process, or another sharing the database);
// token is the operator's.
func accessReviewScenario(t *testing.T, token string, at, via *proc) {
	// An event delivered to a real receiver, for the dashboard to show.
	rcv := newReceiver(t)
	var dest struct{ ID, Secret string }
	if code := call(t, "POST", via.url+"/v1/destinations", token, map[string]any{"name": "orders", "url": rcv.srv.URL + "/hooks"},
		&dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	rcv.setSecret(dest.Secret)
	ev := publish(t, via, token, map[string]any{"type": "order.paid", "payload": map[string]any{"id": "o_1"}})
	if missing := rcv.waitFor([]string{ev}, 30*time.Second); missing > 0 {
		t.Fatalf("event %s not delivered", ev)
	}

	// A key that expires in a few seconds works until then, everywhere.
	start := time.Now()
	expires := start.Add(3 * time.Second).UTC()
	var expiring struct {
		ID, Token string
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if code := call(t, "POST", via.url+"/v1/keys", token, map[string]any{"name": "contractor", "role": "viewer",
		"expires_at": expires.Format(time.RFC3339Nano)}, &expiring); code != http.StatusCreated {
		t.Fatalf("create expiring key: %d", code)
	}
	if expiring.ExpiresAt == nil || expiring.ExpiresAt.Sub(expires).Abs() > time.Millisecond {
		t.Fatalf("created key expires %v, want %v", expiring.ExpiresAt, expires)
	}
	if k := keyListed(t, via, token, expiring.ID); k.LastUsedAt != nil {
		t.Fatalf("a key never used shows last_used_at %v", k.LastUsedAt)
	}
	code, expiringSession := signInDashboard(t, at, expiring.Token)
	if code != http.StatusSeeOther {
		t.Fatalf("sign in with the expiring key: %d", code)
	}
	if code := call(t, "GET", at.url+"/v1/events/"+ev+"/deliveries", expiring.Token, nil, nil); code != http.StatusOK {
		t.Fatalf("the expiring key before its expiry: %d", code)
	}
	// Its use shows, at the minute, in the other process too.
	k := keyListed(t, via, token, expiring.ID)
	if k.LastUsedAt == nil || k.LastUsedAt.Second() != 0 || k.LastUsedAt.Nanosecond() != 0 ||
		k.LastUsedAt.Before(start.Truncate(time.Minute)) || k.LastUsedAt.After(time.Now()) {
		t.Fatalf("last_used_at %v: want the minute of the use (began %v)", k.LastUsedAt, start)
	}
	var refused struct {
		Error struct{ Code, Message string }
	}
	testkit.WaitFor(t, 20*time.Second, func() bool {
		return callNoFail("GET", at.url+"/v1/events", expiring.Token, nil, &refused) == http.StatusUnauthorized
	}, func() string { return "waiting for the expired key's 401" })
	if time.Now().Before(expires) {
		t.Errorf("the key was refused before its expiry %v", expires)
	}
	if refused.Error.Code != "unauthorized" || !strings.Contains(refused.Error.Message, "expired") {
		t.Errorf("expired key's answer %+v, want the error shape with code unauthorized", refused.Error)
	}
	if code, to, _ := expiringSession.get("/ui/events"); code != http.StatusSeeOther || to != "/ui/login" {
		t.Errorf("the expired key's dashboard session: %d to %q, want sign-in", code, to)
	}
	if code, _ := signInDashboard(t, at, expiring.Token); code != http.StatusUnauthorized {
		t.Errorf("sign in with the expired key: %d, want 401", code)
	}

	// A deleted key's dashboard session reads nothing on its next request.
	var viewer struct{ ID, Token string }
	if code := call(t, "POST", via.url+"/v1/keys", token, map[string]any{"name": "support", "role": "viewer"},
		&viewer); code != http.StatusCreated {
		t.Fatalf("create viewer key: %d", code)
	}
	pages := []string{"/ui/events", "/ui/events/" + ev, "/ui/privacy"}
	sessions := make([]*dashboard, len(pages))
	for i, page := range pages {
		code, d := signInDashboard(t, at, viewer.Token)
		if code != http.StatusSeeOther {
			t.Fatalf("sign in with the viewer key: %d", code)
		}
		if code, _, body := d.get(page); code != http.StatusOK || (page == "/ui/events/"+ev && !strings.Contains(body, dest.ID)) {
			t.Fatalf("%s before the deletion: %d, shows the delivery: %v", page, code, strings.Contains(body, dest.ID))
		}
		sessions[i] = d
	}
	if code := call(t, "DELETE", via.url+"/v1/keys/"+viewer.ID, token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete the viewer key: %d", code)
	}
	for i, page := range pages {
		code, to, body := sessions[i].get(page)
		if code != http.StatusSeeOther || to != "/ui/login" || strings.Contains(body, ev) {
			t.Errorf("%s after the key's deletion: %d to %q, want sign-in", page, code, to)
		}
	}

	// The sign-ins are in the audit log, under their keys, with no token.
	var audit struct {
		Data []struct {
			ActorKeyID string `json:"actor_key_id"`
			Action     string `json:"action"`
			ResourceID string `json:"resource_id"`
		}
	}
	if code := call(t, "GET", via.url+"/v1/audit?limit=100", token, nil, &audit); code != http.StatusOK {
		t.Fatalf("GET /v1/audit: %d", code)
	}
	signIns := map[string]int{}
	for _, e := range audit.Data {
		if e.Action == "session.sign_in" && e.ActorKeyID == e.ResourceID {
			signIns[e.ResourceID]++
		}
	}
	if signIns[expiring.ID] != 1 || signIns[viewer.ID] != len(pages) {
		t.Errorf("sign-ins audited %v, want 1 for %s and %d for %s", signIns, expiring.ID, len(pages), viewer.ID)
	}
	for _, proc := range []*proc{at, via} {
		for _, secret := range []string{expiring.Token, viewer.Token, token} {
			if strings.Contains(proc.log(), secret) {
				t.Errorf("a token is in the log of %s", proc.url)
			}
		}
	}
}
