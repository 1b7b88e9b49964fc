package ui_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/ui"
)

// A flash in the URL shows nothing, signed in or not: only the session
// carries a form's outcome.
func TestFlashFromURLShowsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.signIn(t, b.operator)
	forged := "?flash=" + url.QueryEscape(`<script>alert(1)</script> Your key was revoked, sign in at evil.example`)
	for _, path := range []string{"/ui/", "/ui/destinations", "/ui/privacy"} {
		code, body := br.get(path + forged)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		if got := flashOf(body); got != "" || strings.Contains(body, "evil.example") || strings.Contains(body, "alert(1)") {
			t.Errorf("%s shows the URL's flash %q", path, got)
		}
	}
	res, err := http.Get(b.srv.URL + "/ui/login" + forged)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if body := readBody(t, res); res.StatusCode != http.StatusOK || strings.Contains(body, "evil.example") {
		t.Errorf("the sign-in page: %d, shows the URL's flash: %v", res.StatusCode, strings.Contains(body, "evil.example"))
	}
}

// A form's outcome shows on the page it redirects to, once, and only in
// the session that posted it; the redirect carries nothing of it.
func TestFlashShowsOnceInItsSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, other := b.signIn(t, b.operator), b.signIn(t, b.operator)
	var d struct{ ID string }
	if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "a", "url": "https://a.example.com"}, &d); code != http.StatusCreated {
		t.Fatalf("create destination: %d %s", code, raw)
	}
	res := br.post("/ui/destinations/"+d.ID+"/enabled", url.Values{"enabled": {"false"}, "confirm": {"1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/destinations" {
		t.Fatalf("switch destination: %d to %q, want /ui/destinations and no query", res.StatusCode, res.Header.Get("Location"))
	}
	if _, body := other.get("/ui/destinations"); flashOf(body) != "" {
		t.Errorf("another session of the key shows %q", flashOf(body))
	}
	_, body := br.get("/ui/destinations")
	if got, want := flashOf(body), "Destination "+d.ID+" disabled."; got != want {
		t.Fatalf("the next page shows %q, want %q", got, want)
	}
	if _, body := br.get("/ui/destinations"); flashOf(body) != "" {
		t.Errorf("the page after shows %q again", flashOf(body))
	}
}

// Sessions are the store's: a dashboard started again over the same
// store (a restart), or another beside it (a second process), knows the
// sessions the first signed in, and a sign-out through one ends the
// session in every one.
func TestSessionsLiveInTheStore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	second := httptest.NewServer(ui.New(ui.Config{Store: b.store}))
	t.Cleanup(second.Close)
	br := b.signIn(t, b.operator)
	cookies := br.client.Jar.Cookies(mustURL(t, b.srv.URL+"/ui/"))
	if len(cookies) != 1 {
		t.Fatalf("cookies after sign-in: %v", cookies)
	}
	id := cookies[0].Value
	if _, err := b.store.Session(context.Background(), []byte(id)); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("the store finds the session by its cookie's id itself (%v): it must keep only a hash", err)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(mustURL(t, second.URL+"/ui/"), []*http.Cookie{{Name: "sluice_session", Value: id, Path: "/ui/"}})
	there := &browser{t: t, base: second.URL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if code, body := there.get("/ui/events"); code != http.StatusOK || !strings.Contains(body, "Sign out") {
		t.Fatalf("the other dashboard: %d, signed in: %v", code, strings.Contains(body, "Sign out"))
	}
	// A form posted on one shows its outcome on the other.
	res := there.post("/ui/destinations/dst_nope/enabled", url.Values{"enabled": {"false"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("post through the other dashboard: %d", res.StatusCode)
	}
	if _, body := br.get("/ui/destinations"); !strings.HasPrefix(flashOf(body), "Not changed: ") {
		t.Errorf("the first dashboard shows %q, want the other's outcome", flashOf(body))
	}
	if res := there.post("/ui/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	br.refused("/ui/events")
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
