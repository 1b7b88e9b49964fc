package main_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice"
)

// chromium finds the browser the dashboard tests drive: $SLUICE_TEST_CHROMIUM
// or Debian's chromium (.ci/run installs it). Without one the tests skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("SLUICE_TEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no chromium: set SLUICE_TEST_CHROMIUM or install Debian's chromium (.ci/run does)")
	return ""
}

// browser starts a headless Chromium with a fresh profile, closed at
// cleanup, and returns a tab's context.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still be writing to the profile
	// as the test ends, and a failed cleanup would fail the test.
	profile, err := os.MkdirTemp("", "sluice-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(profile) // best effort, see above
	})
	return ctx
}

// screenshots is where the dashboard tests save their pictures: a folder of
// the test's, or $SLUICE_UI_SCREENSHOTS to keep them.
func screenshots(t *testing.T) string {
	if dir := os.Getenv("SLUICE_UI_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

func shot(dir, name string, buf *[]byte) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := chromedp.FullScreenshot(buf, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), *buf, 0o644)
	})
}

func signIn(base, token string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(base + "/ui/login"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token, chromedp.ByID),
		chromedp.Submit(`#token`, chromedp.ByID),
		chromedp.WaitVisible(`//h1[text()="Overview"]`),
	}
}

// In a real browser: sign in, create a destination through the form, see a
// published event in the list, open it, reveal its payload (and find the
// read in the audit log), erase its subject and see the payload erased. A
// viewer sees no payload button. Screenshots of every page, at 1280 px and
// on a phone, are saved.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer rcv.Close()
	dir := screenshots(t)
	var png []byte
	ctx := browser(t, 1280, 900)

	if err := chromedp.Run(ctx, signIn(p.url, token), shot(dir, "overview-empty", &png)); err != nil {
		t.Fatalf("sign in: %v", err)
	}

	var flash string
	err := chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/destinations"),
		chromedp.WaitVisible(`#name`, chromedp.ByID),
		chromedp.SendKeys(`#name`, "billing", chromedp.ByID),
		chromedp.SendKeys(`#url`, rcv.URL+"/hooks", chromedp.ByID),
		chromedp.SendKeys(`#fields`, "id, amount", chromedp.ByID),
		chromedp.Submit(`#name`, chromedp.ByID),
		chromedp.WaitVisible(`#secret`, chromedp.ByID),
		chromedp.Text(`#secret`, &flash, chromedp.ByID),
		shot(dir, "destinations", &png),
	)
	if err != nil || !strings.Contains(flash, "The destination is created") {
		t.Fatalf("create destination through the form: %q, %v", flash, err)
	}

	var pub struct{ ID string }
	if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "invoice.paid",
		"payload": map[string]any{"id": "inv_ui", "amount": 4200, "email": "grace@example.com"}}, &pub); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}

	var payload, state, erased string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/events?since=2999-01-01T00:00"),
		chromedp.WaitVisible(`//p[contains(., "No events match")]`),
		chromedp.Navigate(p.url+"/ui/events?type=invoice.paid"),
		chromedp.WaitVisible(`a[href="/ui/events/`+pub.ID+`"]`, chromedp.ByQuery),
		shot(dir, "events", &png),
		chromedp.Click(`a[href="/ui/events/`+pub.ID+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#show-payload`, chromedp.ByID),
		shot(dir, "event", &png),
		chromedp.Click(`#show-payload`, chromedp.ByID),
		chromedp.WaitVisible(`#payload`, chromedp.ByID),
		chromedp.Text(`#payload`, &payload, chromedp.ByID),
		shot(dir, "event-payload", &png),
	)
	if err != nil || !strings.Contains(payload, "grace@example.com") || !strings.Contains(payload, "inv_ui") {
		t.Fatalf("reveal the payload: %q, %v", payload, err)
	}
	var audit struct {
		Data []struct {
			Action     string `json:"action"`
			ResourceID string `json:"resource_id"`
		} `json:"data"`
	}
	call(t, "GET", p.url+"/v1/audit", token, nil, &audit)
	found := false
	for _, e := range audit.Data {
		found = found || (e.Action == "event.payload_read" && e.ResourceID == pub.ID)
	}
	if !found {
		t.Fatal("revealing the payload left no event.payload_read in the audit log")
	}

	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/datamap"),
		chromedp.WaitVisible(`//h2[contains(., "published through the API")]`),
		shot(dir, "datamap", &png),
		chromedp.Navigate(p.url+"/ui/privacy"),
		chromedp.WaitVisible(`#value`, chromedp.ByID),
		chromedp.SendKeys(`#value`, "grace@example.com", chromedp.ByID),
		chromedp.Submit(`#value`, chromedp.ByID),
		chromedp.WaitVisible(`#confirm-button`, chromedp.ByID),
		chromedp.Click(`#confirm-button`, chromedp.ByID),
		chromedp.WaitVisible(`#erasure-result`, chromedp.ByID),
		chromedp.Text(`#erasure-result`, &erased, chromedp.ByID),
		shot(dir, "privacy-erased", &png),
		chromedp.Navigate(p.url+"/ui/events/"+pub.ID),
		chromedp.WaitVisible(`#payload-state`, chromedp.ByID),
		chromedp.Text(`#payload-state`, &state, chromedp.ByID),
		chromedp.Navigate(p.url+"/ui/"),
		chromedp.WaitVisible(`//h1[text()="Overview"]`),
		shot(dir, "overview", &png),
	)
	if err != nil || !strings.Contains(erased, "1 events matched") || state != string(sluice.PayloadErased) {
		t.Fatalf("erasure: result %q, payload state %q, %v", erased, state, err)
	}

	// A viewer reads metadata: the event, but no payload button.
	var viewer struct{ Token string }
	if code := call(t, "POST", p.url+"/v1/keys", token, map[string]any{"name": "viewer", "role": "viewer"}, &viewer); code != http.StatusCreated {
		t.Fatalf("create viewer key: %d", code)
	}
	var other struct{ ID string }
	call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "invoice.paid", "payload": map[string]any{"id": "inv_2"}}, &other)
	vctx := browser(t, 390, 844) // a phone
	var buttons int
	err = chromedp.Run(vctx, signIn(p.url, viewer.Token),
		shot(dir, "phone-overview", &png),
		chromedp.Navigate(p.url+"/ui/events/"+other.ID),
		chromedp.WaitVisible(`#payload-state`, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll("#show-payload").length`, &buttons),
		shot(dir, "phone-event-viewer", &png),
	)
	if err != nil || buttons != 0 {
		t.Fatalf("viewer: %d payload buttons, %v", buttons, err)
	}
	t.Logf("screenshots in %s", dir)
}

// The dashboard without a session sends to sign-in; a form without its
// CSRF token is refused; the session cookie is HttpOnly and SameSite=Strict.
func TestDashboardSessionAndCSRF(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := noRedirect.Get(p.url + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		t.Fatalf("without a session: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}

	// A sign-in posted from another site is refused, with or without a
	// form token; a wrong form token is refused too.
	for _, c := range []struct{ origin, body string }{
		{"https://evil.example", "token=" + token},
		{"https://evil.example", "token=" + token + "&csrf=forged"},
		{"", "token=" + token + "&csrf=forged"},
	} {
		req, _ := http.NewRequest("POST", p.url+"/ui/login", strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		res, err = noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || cookieNamed(res, "sluice_session") != nil {
			t.Fatalf("sign in from %q with %q: %d", c.origin, c.body, res.StatusCode)
		}
	}
	// A client that is no browser may post the token field alone.
	res, err = noRedirect.PostForm(p.url+"/ui/login", map[string][]string{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || cookieNamed(res, "sluice_session") == nil {
		t.Fatalf("sign in with the token field alone: %d", res.StatusCode)
	}

	// Properly: take the form's token and cookie.
	res, err = noRedirect.Get(p.url + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	login := cookieNamed(res, "sluice_login")
	csrf := between(body, `name="csrf" value="`, `"`)
	req, _ := http.NewRequest("POST", p.url+"/ui/login", strings.NewReader("token="+token+"&csrf="+csrf))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(login)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	session := cookieNamed(res, "sluice_session")
	if res.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign in: %d, cookie %+v", res.StatusCode, session)
	}
	if strings.Contains(session.Value, token) {
		t.Fatal("the session cookie carries the token")
	}

	// A change without the session's CSRF token is refused.
	req, _ = http.NewRequest("POST", p.url+"/ui/destinations", strings.NewReader("name=x&url=https://example.com/h"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("a form without its CSRF token: %d", res.StatusCode)
	}
	var list struct{ Data []any }
	call(t, "GET", p.url+"/v1/destinations", token, nil, &list)
	if len(list.Data) != 0 {
		t.Fatalf("the refused form created %d destinations", len(list.Data))
	}

	// With the session's token, the export form downloads the subject's
	// payloads as the API's JSON.
	var pub struct{ ID string }
	call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": "user.created",
		"payload": map[string]any{"email": "ada@example.com"}}, &pub)
	req, _ = http.NewRequest("GET", p.url+"/ui/privacy", nil)
	req.AddCookie(session)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	formToken := between(readAll(t, res), `name="csrf" value="`, `"`)
	req, _ = http.NewRequest("POST", p.url+"/ui/export",
		strings.NewReader("type=email&value=ada%40example.com&csrf="+formToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	exported := readAll(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(exported, pub.ID) {
		t.Fatalf("export: %d, %q", res.StatusCode, exported)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
