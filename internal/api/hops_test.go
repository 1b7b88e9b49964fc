package api_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
)

// Ingest and publish read Sluice-Hops: up to the limit the event is
// stored; past it the answer is 508 and one sluice.anomaly.loop notice
// however many follow; a malformed count is 400. Nothing else is stored.
func TestHopLimit(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	body := []byte(`{"type":"order.paid","id":"evt_1"}`)
	hops := func(n string) http.Header { return http.Header{sluice.HeaderHops: {n}} }

	b.ingest(t, src.ID, body, hops("3")).want(t, http.StatusAccepted, nil)
	b.ingest(t, src.ID, []byte(`{"type":"order.paid","id":"evt_2"}`), hops("4")).
		wantError(t, http.StatusLoopDetected, sluice.ELOOP)
	b.ingest(t, src.ID, []byte(`{"type":"order.paid","id":"evt_3"}`), hops("9")).
		wantError(t, http.StatusLoopDetected, sluice.ELOOP)
	b.ingest(t, src.ID, []byte(`{"type":"order.paid","id":"evt_4"}`), hops("many")).
		wantError(t, http.StatusBadRequest, sluice.EINVALID)

	publish := func(n string) *response {
		req, err := http.NewRequest("POST", b.srv.URL+"/v1/events",
			bytes.NewReader([]byte(`{"type":"order.paid","payload":{"n":1}}`)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+b.operator)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(sluice.HeaderHops, n)
		res, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(res.Body); err != nil {
			t.Fatal(err)
		}
		return &response{status: res.StatusCode, header: res.Header, body: buf.Bytes()}
	}
	publish("0").want(t, http.StatusAccepted, nil)
	publish("4").wantError(t, http.StatusLoopDetected, sluice.ELOOP)

	var list struct{ Data []event }
	b.do(t, "GET", "/v1/events?limit=100", b.operator, nil).want(t, http.StatusOK, &list)
	counts := map[string]int{}
	for _, e := range list.Data {
		counts[e.Type]++
	}
	if counts["order.paid"] != 2 || counts[sluice.NoticeAnomalyPrefix+sluice.AnomalyLoop] != 2 || len(list.Data) != 4 {
		t.Fatalf("stored %v; want 2 order.paid and one loop notice for the source and one for publishing", counts)
	}
	b.assertLogsClean(t)
}
