package api_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// exported is GET /v1/subjects/export as the API returns it.
type exported struct {
	Data []struct {
		EventID    string          `json:"event_id"`
		Type       string          `json:"type"`
		ReceivedAt time.Time       `json:"received_at"`
		Payload    json.RawMessage `json:"payload"`
	} `json:"data"`
}

func (b *testBundle) export(t *testing.T, token, typ, value string) exported {
	t.Helper()
	var out exported
	b.do(t, "GET", "/v1/subjects/export?type="+url.QueryEscape(typ)+"&value="+url.QueryEscape(value), token, nil).
		want(t, http.StatusOK, &out)
	return out
}

func exportedIDs(e exported) []string {
	var ids []string
	for _, d := range e.Data {
		ids = append(ids, d.EventID)
	}
	slices.Sort(ids)
	return ids
}

// openDB opens the store's database file beside the store, for tests that
// look at or tamper with what is at rest.
func (b *testBundle) openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+b.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// One erasure call erases the same person's data however it came in: an
// explicit subject on publish, a source's subject path on an inbound Stripe
// event, and an address found in free text; nothing else is touched, the
// export shows three before and none after, and no plaintext of the
// subject is kept.
func TestErasureAcrossSources(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	b.destination(t, b.operator, map[string]any{"url": "https://example.com/hook"})
	const email = "ada.lovelace@example.com"

	explicit := b.publish(t, b.operator, map[string]any{"type": "user.updated", "payload": map[string]any{"user": 1},
		"subjects": []map[string]string{{"type": "email", "value": "  Ada.Lovelace@Example.com "}}})

	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "stripe", "secret": stripeSecret},
		"subject_paths": []map[string]string{{"path": "data.object.customer_email", "type": "email"}}})
	body := []byte(`{"id":"evt_S1","type":"charge.succeeded","data":{"object":{"customer_email":"ADA.LOVELACE@example.com"}}}`)
	var in ingested
	b.ingest(t, src.ID, body, stripeHeader(body, time.Now(), stripeSecret)).want(t, http.StatusAccepted, &in)

	freeText := b.publish(t, b.operator, map[string]any{"type": "ticket.created",
		"payload": map[string]any{"note": "Please call back " + email + " tomorrow"}})
	other := b.publish(t, b.operator, map[string]any{"type": "ticket.created",
		"payload": map[string]any{"note": "from grace@example.com"}})
	unrelated := b.publish(t, b.operator, map[string]any{"type": "user.updated", "payload": map[string]any{"user": 2}})

	want := []string{explicit, in.EventID, freeText}
	slices.Sort(want)
	before := b.export(t, b.operator, "email", email)
	if got := exportedIDs(before); !slices.Equal(got, want) {
		t.Fatalf("export before the erasure: %v, want %v", got, want)
	}
	for _, d := range before.Data {
		if d.EventID == in.EventID && !bytes.Equal(d.Payload, body) {
			t.Errorf("exported inbound payload %s, want %s", d.Payload, body)
		}
	}

	var era struct {
		ID             string    `json:"id"`
		EventsMatched  int       `json:"events_matched"`
		PayloadsErased int       `json:"payloads_erased"`
		CompletedAt    time.Time `json:"completed_at"`
	}
	b.do(t, "POST", "/v1/erasures", b.operator, map[string]any{"subject": map[string]string{"type": "email", "value": email}}).
		want(t, http.StatusOK, &era)
	if !strings.HasPrefix(era.ID, sluice.PrefixErasure) || era.EventsMatched != 3 || era.PayloadsErased != 3 || era.CompletedAt.IsZero() {
		t.Fatalf("erasure %+v, want 3 matched and erased", era)
	}
	if got := b.export(t, b.operator, "email", email); len(got.Data) != 0 {
		t.Errorf("export after the erasure lists %v", exportedIDs(got))
	}
	for _, id := range want {
		var ev event
		b.do(t, "GET", "/v1/events/"+id, b.operator, nil).want(t, http.StatusOK, &ev)
		if ev.PayloadState != sluice.PayloadErased || string(ev.Payload) != "null" || ev.Type == "" {
			t.Errorf("erased event %s: state %q payload %s, want erased metadata only", id, ev.PayloadState, ev.Payload)
		}
		for _, d := range b.deliveries(t, b.operator, id) {
			if d.Status != sluice.DeliveryCancelled {
				t.Errorf("erased event %s keeps delivery %s %s", id, d.ID, d.Status)
			}
		}
	}
	for _, id := range []string{other, unrelated} {
		var ev event
		b.do(t, "GET", "/v1/events/"+id, b.operator, nil).want(t, http.StatusOK, &ev)
		if ev.PayloadState != sluice.PayloadRetained || string(ev.Payload) == "null" {
			t.Errorf("unrelated event %s was touched: %s", id, ev.PayloadState)
		}
	}

	// Repeating the request erases nothing more and still succeeds.
	b.do(t, "POST", "/v1/erasures", b.operator, map[string]any{"subject": map[string]string{"type": "email", "value": email}}).
		want(t, http.StatusOK, &era)
	if era.PayloadsErased != 0 {
		t.Errorf("a repeated erasure erased %d payloads", era.PayloadsErased)
	}

	// The erasure record keeps a keyed hash, not the address: nothing in the
	// database file (or its WAL) holds it.
	var hash []byte
	if err := b.openDB(t).QueryRow(`SELECT subject_hash FROM erasures LIMIT 1`).Scan(&hash); err != nil || len(hash) != 32 {
		t.Fatalf("erasure record hash: %d bytes, %v", len(hash), err)
	}
	for _, f := range []string{b.dbPath, b.dbPath + "-wal"} {
		data, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(data), []byte(email)) {
			t.Errorf("%s holds the erased address in plain text", f)
		}
	}
	b.assertLogsClean(t, email, "ada.lovelace", "grace@example.com")
}

// With detection off, an address in free text is not indexed; explicit
// subjects still are.
func TestEmailDetectionOff(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true, noDetectEmails: true})
	explicit := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": 1,
		"subjects": []map[string]string{{"type": "email", "value": "x@example.com"}}})
	b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": map[string]string{"note": "x@example.com"}})
	if got := exportedIDs(b.export(t, b.operator, "email", "x@example.com")); !slices.Equal(got, []string{explicit}) {
		t.Errorf("export with detection off: %v, want only the explicit subject's event", got)
	}
}

// A ciphertext changed at rest, or moved to another row, reads as an
// integrity error for that event alone.
func TestTamperedPayloadReadsAsIntegrityError(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	flipped := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": map[string]string{"n": "1"}})
	moved := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": map[string]string{"n": "2"}})
	intact := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": map[string]string{"n": "3"}})

	db := b.openDB(t)
	var body []byte
	if err := db.QueryRow(`SELECT body FROM event_payloads WHERE event_id = ?`, flipped).Scan(&body); err != nil {
		t.Fatal(err)
	}
	body[len(body)-5] ^= 0x01
	if _, err := db.Exec(`UPDATE event_payloads SET body = ? WHERE event_id = ?`, body, flipped); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE event_payloads SET body = (SELECT body FROM event_payloads WHERE event_id = ?)
		WHERE event_id = ?`, intact, moved); err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{flipped, moved} {
		var raw map[string]json.RawMessage
		b.do(t, "GET", "/v1/events/"+id, b.operator, nil).want(t, http.StatusOK, &raw)
		if string(raw["payload"]) != "null" || string(raw["payload_error"]) != `"integrity"` || string(raw["type"]) != `"a.b"` {
			t.Errorf("tampered event %s read as %v", id, raw)
		}
	}
	var ev event
	b.do(t, "GET", "/v1/events/"+intact, b.operator, nil).want(t, http.StatusOK, &ev)
	if string(ev.Payload) != `{"n":"3"}` {
		t.Errorf("the intact event reads %s", ev.Payload)
	}
	var list struct{ Data []event }
	b.do(t, "GET", "/v1/events", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 3 {
		t.Errorf("list after tampering: %d events, want 3", len(list.Data))
	}
}

// Deleting one payload keeps the metadata, cancels its deliveries and makes
// replay 410; replaying a retained event makes a new delivery with the same
// webhook-id.
func TestErasePayloadAndReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	dest := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL})
	id := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": map[string]int{"n": 1}})
	b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool { return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded })

	var replayed struct{ Data []delivery }
	b.do(t, "POST", "/v1/events/"+id+"/replay", b.operator, map[string]string{"destination_id": dest.ID}).
		want(t, http.StatusAccepted, &replayed)
	if len(replayed.Data) != 1 || replayed.Data[0].DestinationID != dest.ID || replayed.Data[0].Status != sluice.DeliveryPending {
		t.Fatalf("replay answered %+v", replayed.Data)
	}
	b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool {
		return len(ds) == 2 && ds[1].Status == sluice.DeliverySucceeded
	})
	hooks := recv.got()
	if len(hooks) != 2 || hooks[0].header.Get("webhook-id") != id || hooks[1].header.Get("webhook-id") != id ||
		!bytes.Equal(hooks[0].body, hooks[1].body) {
		t.Fatalf("receiver got %d requests; want the original and the replay with the same id and body", len(hooks))
	}
	b.do(t, "POST", "/v1/events/"+id+"/replay", b.operator, nil).want(t, http.StatusAccepted, nil)
	b.do(t, "POST", "/v1/events/"+id+"/replay", b.operator, map[string]string{"destination_id": "dst_nope"}).
		wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "POST", "/v1/events/evt_nope/replay", b.operator, nil).wantError(t, http.StatusNotFound, "not_found")

	b.do(t, "DELETE", "/v1/events/"+id+"/payload", b.operator, nil).want(t, http.StatusNoContent, nil)
	var ev event
	b.do(t, "GET", "/v1/events/"+id, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.PayloadState != sluice.PayloadErased || string(ev.Payload) != "null" {
		t.Errorf("after DELETE …/payload: %s %s", ev.PayloadState, ev.Payload)
	}
	b.do(t, "POST", "/v1/events/"+id+"/replay", b.operator, nil).wantError(t, http.StatusGone, "gone")
	b.do(t, "DELETE", "/v1/events/evt_nope/payload", b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	if got := b.auditActions(t, id); !slices.Contains(got, "event.payload_erase") || !slices.Contains(got, "event.replay") {
		t.Errorf("audit of the event: %v", got)
	}
}

// Viewers cannot export, erase, delete payloads or replay; they can read
// the audit log, which names actions and ids and never values.
func TestPrivacyRolesAndAudit(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	viewer := b.key(t, b.operator, sluice.RoleViewer)
	dest := b.destination(t, b.operator, map[string]any{"url": "https://audit.example.com/secret-path"})
	id := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": map[string]string{"email": "eve@example.com"}})
	b.do(t, "GET", "/v1/events/"+id, b.operator, nil).want(t, http.StatusOK, nil)
	b.export(t, b.operator, "email", "eve@example.com")

	b.do(t, "GET", "/v1/subjects/export?type=email&value=eve%40example.com", viewer, nil).wantError(t, http.StatusForbidden, "forbidden")
	b.do(t, "POST", "/v1/erasures", viewer, map[string]any{"subject": map[string]string{"type": "email", "value": "eve@example.com"}}).
		wantError(t, http.StatusForbidden, "forbidden")
	b.do(t, "DELETE", "/v1/events/"+id+"/payload", viewer, nil).wantError(t, http.StatusForbidden, "forbidden")
	b.do(t, "POST", "/v1/events/"+id+"/replay", viewer, nil).wantError(t, http.StatusForbidden, "forbidden")
	b.do(t, "POST", "/v1/erasures", b.operator, map[string]any{"subject": map[string]string{"type": "email", "value": " "}}).
		wantError(t, http.StatusBadRequest, "invalid")
	b.do(t, "POST", "/v1/erasures", b.operator, map[string]any{}).wantError(t, http.StatusBadRequest, "invalid")
	b.do(t, "GET", "/v1/subjects/export?type=email", b.operator, nil).wantError(t, http.StatusBadRequest, "invalid")
	b.do(t, "POST", "/v1/erasures", b.operator, map[string]any{"subject": map[string]string{"type": "email", "value": "eve@example.com"}}).
		want(t, http.StatusOK, nil)

	res := b.do(t, "GET", "/v1/audit?limit=500", viewer, nil)
	var audit struct {
		Data []struct {
			Action     string  `json:"action"`
			ResourceID *string `json:"resource_id"`
			ActorKeyID *string `json:"actor_key_id"`
		} `json:"data"`
	}
	res.want(t, http.StatusOK, &audit)
	var actions []string
	for _, e := range audit.Data {
		actions = append(actions, e.Action)
		// The default tenant is made by Sluice at start-up: no key acted.
		if e.ActorKeyID == nil && e.Action != "tenant.create" {
			t.Errorf("audit entry %s has no actor", e.Action)
		}
	}
	for _, want := range []string{"destination.create", "event.payload_read", "subject.export", "subject.erase", "key.create"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit %v lacks %s", actions, want)
		}
	}
	for _, secret := range []string{"eve@example.com", "secret-path", dest.Secret, b.operator, viewer} {
		if bytes.Contains(res.body, []byte(secret)) {
			t.Errorf("the audit log shows %q", secret)
		}
	}
}
