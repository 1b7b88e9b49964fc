package main_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice"
)

// forgedFlash is a link that tries to put words on the dashboard.
var forgedFlash = "?flash=" + url.QueryEscape(`<script>alert(1)</script>Session expired, sign in at evil.example`)

// A dashboard session outlives a restart of the binary on the same data
// directory: the browser's cookie signs it in still, and its next form's
// outcome shows once. A flash in a link shows nothing.
func TestDashboardSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	token, dir := sluice.NewToken(), t.TempDir()
	p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token)
	code, d := signInDashboard(t, p, token)
	if code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	d.requireSignedIn("/ui/events", "before the restart")

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	p = startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token)
	d.base = p.url // the same host: the cookie goes along
	d.requireSignedIn("/ui/events", "after the restart")

	d.requireNoFlash("/ui/destinations" + forgedFlash)
	res := d.post("/ui/destinations/dst_nope/enabled", url.Values{"enabled": {"false"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/destinations" {
		t.Fatalf("form: %d to %q, want /ui/destinations with no query", res.StatusCode, res.Header.Get("Location"))
	}
	if got := d.flash("/ui/destinations"); !strings.HasPrefix(got, "Not changed: ") {
		t.Errorf("the page after the form shows %q", got)
	}
	d.requireNoFlash("/ui/destinations")

	if res := d.post("/ui/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	if code, to, _ := d.get("/ui/events"); code != http.StatusSeeOther || to != "/ui/login" {
		t.Errorf("after sign-out: %d to %q, want sign-in", code, to)
	}
}

// On one PostgreSQL database a session signed in through one process reads
// pages through another, a form posted through the second shows its
// outcome on the first, and signing out through either ends it in both:
// no sticky sessions are needed in front of them.
func TestDashboardSessionAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	procs := startCluster(t, c, 2)
	a, b := procs[0], procs[1]
	code, d := signInDashboard(t, a, c.token)
	if code != http.StatusSeeOther {
		t.Fatalf("sign in through A: %d", code)
	}
	d.base = b.url
	d.requireSignedIn("/ui/events", "through B")
	d.requireNoFlash("/ui/privacy" + forgedFlash)
	if res := d.post("/ui/destinations/dst_nope/enabled", url.Values{"enabled": {"true"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("form through B: %d", res.StatusCode)
	}
	d.base = a.url
	if got := d.flash("/ui/destinations"); !strings.HasPrefix(got, "Not changed: ") {
		t.Errorf("A shows %q after a form posted through B", got)
	}
	d.base = b.url
	d.requireNoFlash("/ui/destinations")
	if res := d.post("/ui/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out through B: %d", res.StatusCode)
	}
	d.base = a.url
	if code, to, _ := d.get("/ui/events"); code != http.StatusSeeOther || to != "/ui/login" {
		t.Errorf("A after a sign-out through B: %d to %q, want sign-in", code, to)
	}
}

// requireSignedIn fails unless path shows its page to a signed-in session.
func (d *dashboard) requireSignedIn(path, when string) {
	d.t.Helper()
	code, to, body := d.get(path)
	if code != http.StatusOK || !strings.Contains(body, "Sign out") {
		d.t.Fatalf("%s %s: %d to %q, signed in: %v", path, when, code, to, strings.Contains(body, "Sign out"))
	}
}

// flash is the flash message path shows, "" when it shows none.
func (d *dashboard) flash(path string) string {
	d.t.Helper()
	code, _, body := d.get(path)
	if code != http.StatusOK {
		d.t.Fatalf("%s: %d", path, code)
	}
	return html.UnescapeString(between(body, `<p class="flash" role="status">`, "</p>"))
}

// requireNoFlash fails if path shows a flash message, or anything of the
// forged one.
func (d *dashboard) requireNoFlash(path string) {
	d.t.Helper()
	code, _, body := d.get(path)
	if code != http.StatusOK {
		d.t.Fatalf("%s: %d", path, code)
	}
	if strings.Contains(body, `class="flash"`) || strings.Contains(body, "evil.example") || strings.Contains(body, "alert(1)") {
		d.t.Errorf("%s shows a flash message: %.300s", path, between(body, `class="flash"`, "</p>"))
	}
}

// post submits a form with the session's CSRF token, read from the
// privacy page as a browser would from any page.
func (d *dashboard) post(path string, form url.Values) *http.Response {
	d.t.Helper()
	_, _, page := d.get("/ui/privacy")
	csrf := between(page, `name="csrf" value="`, `"`)
	if csrf == "" {
		d.t.Fatal("no CSRF token on the privacy page")
	}
	form.Set("csrf", csrf)
	res, err := d.client.PostForm(d.base+path, form)
	if err != nil {
		d.t.Fatal(err)
	}
	res.Body.Close()
	return res
}
