package main_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// With payload storage none, an event's retries come from the memory of
// the process that received it: they succeed while it runs, and a crash
// ends them, the delivery expiring as its payload is gone; nothing of the
// payload is in the data directory.
func TestPayloadStorageNoneAcrossRestart(t *testing.T) {
	t.Parallel()
	dir, token := t.TempDir(), sluice.NewToken()
	env := []string{"SLUICE_ADMIN_TOKEN=" + token, "SLUICE_PAYLOAD_STORAGE=none",
		"SLUICE_RETRY_SCHEDULE=0s,100ms,1s,1s,1s,1s"}
	p := startSluice(t, dir, env...)

	// a.* go to a sink that fails each first try; b.* to one that always fails.
	ok := newSink(t, true)
	var dest struct{ Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": randomHex(6), "url": ok.srv.URL,
		"event_types": []string{"a.*"}}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	ok.setSecret(dest.Secret)
	var failing atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		failing.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": randomHex(6), "url": down.URL,
		"event_types": []string{"b.*"}}, nil); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}

	marker := "volatile-" + randomHex(8)
	retried := publish(t, p, token, map[string]any{"type": "a.paid", "payload": map[string]any{"note": marker}})
	bodies := ok.waitFor(t, []string{retried}, 30*time.Second)
	if got := string(bodies[retried]); got != `{"note":"`+marker+`"}` {
		t.Fatalf("the retry from memory delivered %q", got)
	}
	stranded := publish(t, p, token, map[string]any{"type": "b.paid", "payload": map[string]any{"note": marker}})
	testkit.WaitFor(t, 30*time.Second, func() bool { return failing.Load() >= 2 },
		func() string { return "waiting for the first attempt and a retry from memory to fail" })

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	tries := failing.Load()
	for _, name := range []string{"sluice.db", "sluice.db-wal"} {
		if found := testkit.Carve(t, 4096, []string{dir + "/" + name}, map[string][]byte{"payload": []byte(marker)}); len(found) > 0 {
			t.Fatalf("the payload is in %s", name)
		}
	}

	p = startSluice(t, dir, env...)
	type delivery struct{ Status string }
	var ds struct{ Data []delivery }
	testkit.WaitFor(t, 30*time.Second, func() bool {
		ds.Data = nil
		call(t, "GET", p.url+"/v1/events/"+stranded+"/deliveries", token, nil, &ds)
		return len(ds.Data) == 1 && ds.Data[0].Status == string(sluice.DeliveryExpired)
	}, func() string { return "waiting for the stranded delivery to expire after the restart" })
	if got := failing.Load(); got != tries {
		t.Fatalf("the failing destination got %d tries after the restart; a payload stored nowhere cannot be sent", got-tries)
	}
	for id, want := range map[string]string{retried: "delivered", stranded: "cancelled"} {
		if ev := getEvent(t, p, token, id); ev.Status != want || ev.PayloadState != string(sluice.PayloadNotStored) ||
			string(ev.Payload) != "null" {
			t.Fatalf("event %s reads status %q, payload_state %q; want %s, not_stored", id, ev.Status, ev.PayloadState, want)
		}
	}
}
