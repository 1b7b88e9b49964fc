package main_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// In a real browser, against the real binary: an admin replays an event to
// one destination and to every one it matches, recovers a destination's
// exhausted deliveries through the confirmation step, resumes a
// destination its circuit breaker paused, and goes through the erasure's
// confirmation; the header names the key and its role, and a viewer sees
// no action form. Screenshots of each step are saved.
func TestDashboardOperatorActionsInBrowser(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	// Four attempts: one event exhausts without pausing (the breaker opens
	// after 10 failures in a row), three pause their destination.
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_RETRY_SCHEDULE=0s,0s,0s,0s")
	var failing atomic.Bool
	failing.Store(true)
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.URL.Path != "/ok" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		got.Add(1)
	}))
	defer rcv.Close()
	dest := func(name, path, types string) string {
		var d struct{ ID string }
		if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": name, "url": rcv.URL + path,
			"event_types": []string{types}}, &d); code != http.StatusCreated {
			t.Fatalf("create %s: %d", name, code)
		}
		return d.ID
	}
	publish := func(typ string) string {
		var ev struct{ ID string }
		if code := call(t, "POST", p.url+"/v1/events", token, map[string]any{"type": typ,
			"payload": map[string]any{"email": "grace@example.com"}}, &ev); code != http.StatusAccepted {
			t.Fatalf("publish: %d", code)
		}
		return ev.ID
	}
	state := func(id string) string {
		var d struct{ State string }
		call(t, "GET", p.url+"/v1/destinations/"+id, token, nil, &d)
		return d.State
	}
	deliveries := func(eventID string) []string {
		var ds struct {
			Data []struct{ Status string }
		}
		call(t, "GET", p.url+"/v1/events/"+eventID+"/deliveries", token, nil, &ds)
		var out []string
		for _, d := range ds.Data {
			out = append(out, d.Status)
		}
		return out
	}
	alpha, beta := dest("alpha", "/ok", "order.*"), dest("beta", "/ok", "order.*")
	recoverer, pauser := dest("recoverer", "/recover", "recover.*"), dest("pauser", "/pause", "pause.*")
	order := publish("order.paid")
	lost := publish("recover.x")
	testkit.WaitFor(t, 20*time.Second, func() bool { return strings.Join(deliveries(lost), ",") == "exhausted" },
		func() string { return fmt.Sprintf("the delivery never exhausted: %v", deliveries(lost)) })
	for range 3 {
		publish("pause.x")
	}
	testkit.WaitFor(t, 20*time.Second, func() bool { return state(pauser) == sluice.StatePaused },
		func() string { return "the destination never paused: " + state(pauser) })
	// Published during the pause: held back, never tried.
	held := []string{publish("pause.y"), publish("pause.y")}
	failing.Store(false) // the receivers are fixed

	dir := screenshots(t)
	var png []byte
	ctx := browser(t, 1280, 900)
	var who, flash string
	err := chromedp.Run(ctx, signIn(p.url, token),
		chromedp.Text(`#whoami`, &who, chromedp.ByID),
		shot(dir, "ops-overview-failing", &png),
		chromedp.Click(`a[href="/ui/destinations/`+pauser+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//h1[text()="Destination"]`),
	)
	if err != nil || !strings.Contains(who, "(admin)") {
		t.Fatalf("sign in and follow a failing destination: %q, %v", who, err)
	}

	replay := func(to, name string) {
		t.Helper()
		err := chromedp.Run(ctx,
			chromedp.Navigate(p.url+"/ui/events/"+order),
			chromedp.WaitVisible(`#replay-form`, chromedp.ByID),
			chromedp.SetValue(`#destination_id`, to, chromedp.ByID),
			chromedp.Click(`#replay`, chromedp.ByID),
			chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
			chromedp.Text(`.flash`, &flash, chromedp.ByQuery),
			shot(dir, "ops-event-"+name, &png),
		)
		if err != nil {
			t.Fatalf("replay to %s: %v", to, err)
		}
	}
	replay(beta, "replayed-one")
	if flash != "Replayed to 1 destination: beta ("+beta+")." {
		t.Fatalf("replay to one: %q", flash)
	}
	replay("all", "replayed-all")
	if !strings.HasPrefix(flash, "Replayed to 2 destinations: ") || !strings.Contains(flash, alpha) {
		t.Fatalf("replay to all: %q", flash)
	}
	testkit.WaitFor(t, 20*time.Second, func() bool {
		return strings.Join(deliveries(order), ",") == strings.Repeat("succeeded,", 4)+"succeeded"
	},
		func() string { return fmt.Sprintf("the replays were not delivered: %v", deliveries(order)) })

	var confirmText string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/destinations/"+recoverer+"/recover"),
		chromedp.WaitVisible(`#recover`, chromedp.ByID),
		shot(dir, "ops-recover", &png),
		chromedp.Click(`#recover`, chromedp.ByID),
		chromedp.WaitVisible(`#confirm`, chromedp.ByID),
		chromedp.Text(`#confirm`, &confirmText, chromedp.ByID),
		shot(dir, "ops-recover-confirm", &png),
		chromedp.Click(`#confirm-button`, chromedp.ByID),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
		chromedp.Text(`.flash`, &flash, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(confirmText, "exhausted between") || flash != "Recovered 1 delivery to recoverer." {
		t.Fatalf("recover: confirmation %q, outcome %q, %v", confirmText, flash, err)
	}
	testkit.WaitFor(t, 20*time.Second, func() bool { return strings.Join(deliveries(lost), ",") == "exhausted,succeeded" },
		func() string { return fmt.Sprintf("the recovery was not delivered: %v", deliveries(lost)) })

	var before string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/destinations/"+pauser+"/recover"),
		chromedp.WaitVisible(`#resume`, chromedp.ByID),
		chromedp.Text(`#state`, &before, chromedp.ByID),
		shot(dir, "ops-paused", &png),
		chromedp.Click(`#resume`, chromedp.ByID),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
		chromedp.Text(`.flash`, &flash, chromedp.ByQuery),
		shot(dir, "ops-resumed", &png),
	)
	if err != nil || before != sluice.StatePaused || !strings.Contains(flash, "resumed") {
		t.Fatalf("resume: state %q, outcome %q, %v", before, flash, err)
	}
	// The pause is a minute long: the held deliveries go well before.
	testkit.WaitFor(t, 20*time.Second, func() bool {
		for _, id := range held {
			if ds := deliveries(id); len(ds) != 1 || ds[0] != string(sluice.DeliverySucceeded) {
				return false
			}
		}
		return state(pauser) == sluice.StateActive
	}, func() string { return "the held deliveries did not go after the resume: " + state(pauser) })

	var erasures struct{ Data []any }
	var erased string
	err = chromedp.Run(ctx,
		chromedp.Navigate(p.url+"/ui/privacy"),
		chromedp.WaitVisible(`#value`, chromedp.ByID),
		chromedp.SendKeys(`#value`, "grace@example.com", chromedp.ByID),
		chromedp.Submit(`#value`, chromedp.ByID),
		chromedp.WaitVisible(`#confirm`, chromedp.ByID),
		chromedp.Text(`#confirm`, &confirmText, chromedp.ByID),
		shot(dir, "ops-erase-confirm", &png),
	)
	call(t, "GET", p.url+"/v1/erasures", token, nil, &erasures)
	if err != nil || !strings.Contains(confirmText, "cannot be undone") || len(erasures.Data) != 0 {
		t.Fatalf("erase, first step: %q, %d erasures, %v", confirmText, len(erasures.Data), err)
	}
	err = chromedp.Run(ctx,
		chromedp.Click(`#confirm-button`, chromedp.ByID),
		chromedp.WaitVisible(`#erasure-result`, chromedp.ByID),
		chromedp.Text(`#erasure-result`, &erased, chromedp.ByID),
		shot(dir, "ops-erased", &png),
	)
	if err != nil || !strings.Contains(erased, "7 events matched") {
		t.Fatalf("erase, confirmed: %q, %v", erased, err)
	}

	var viewer struct{ Token string }
	if code := call(t, "POST", p.url+"/v1/keys", token, map[string]any{"name": "auditor", "role": "viewer"}, &viewer); code != http.StatusCreated {
		t.Fatalf("create viewer key: %d", code)
	}
	vctx := browser(t, 1280, 900)
	var forms int
	err = chromedp.Run(vctx, signIn(p.url, viewer.Token),
		chromedp.Text(`#whoami`, &who, chromedp.ByID),
		chromedp.Navigate(p.url+"/ui/events/"+order),
		chromedp.WaitVisible(`#payload-state`, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll("#replay-form, #resume, #recover").length`, &forms),
		shot(dir, "ops-event-viewer", &png),
	)
	if err != nil || !strings.Contains(who, "auditor") || !strings.Contains(who, "(viewer)") || forms != 0 {
		t.Fatalf("viewer: header %q, %d action forms, %v", who, forms, err)
	}
	t.Logf("screenshots in %s", dir)
}
