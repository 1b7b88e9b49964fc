package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// personalData is what one privacy scenario sends through Sluice: unique
// values that must never be found at rest or in a log.
type personalData struct {
	token string

	pubMarker, pubEmail, pubCustomer, pubPhone, pubPhoneDigits string
	inMarker, inEmail, inCustomer, headerMarker                string
	sigMarker, sigEmail, sigCustomer, badMarker                string

	destPath, destURL string
	destSecret        string
	destKey           []byte
	srcSecret         string
	srcKey            []byte
}

func newPersonalData(s *sink) *personalData {
	d := &personalData{token: sluice.NewToken()}
	digits := fmt.Sprintf("%09d", rand.IntN(1_000_000_000))
	d.pubMarker, d.pubEmail, d.pubCustomer = "pubmark"+randomHex(8), "Ada.Pub"+randomHex(5)+"@Example.COM", "cus_pub"+randomHex(6)
	d.pubPhone, d.pubPhoneDigits = "+44 20 "+digits[:4]+" "+digits[4:], "+4420"+digits
	d.inMarker, d.inEmail, d.inCustomer = "inmark"+randomHex(8), "Grace.In"+randomHex(5)+"@Example.org", "cus_in"+randomHex(6)
	d.headerMarker = "hdrmark" + randomHex(8)
	d.sigMarker, d.sigEmail, d.sigCustomer = "sigmark"+randomHex(8), "Alan.Sig"+randomHex(5)+"@Example.net", "cus_sig"+randomHex(6)
	d.badMarker = "badmark" + randomHex(8)
	d.destPath = "/u-" + randomHex(10)
	d.destURL = s.srv.URL + d.destPath
	d.destSecret, d.destKey = newWhsec()
	d.srcSecret, d.srcKey = newWhsec()
	return d
}

// needles are every value of d that must not be found: text in any case,
// raw keys byte for byte.
func (d *personalData) needles() []needle {
	return []needle{
		textNeedle("publish marker", d.pubMarker),
		textNeedle("publish email", d.pubEmail),
		textNeedle("publish customer id", d.pubCustomer),
		textNeedle("publish phone", d.pubPhone),
		textNeedle("publish phone (normalised)", d.pubPhoneDigits),
		textNeedle("ingest marker", d.inMarker),
		textNeedle("ingest email", d.inEmail),
		textNeedle("ingest customer id", d.inCustomer),
		textNeedle("ingest header marker", d.headerMarker),
		textNeedle("signed ingest marker", d.sigMarker),
		textNeedle("signed ingest email", d.sigEmail),
		textNeedle("signed ingest customer id", d.sigCustomer),
		textNeedle("refused ingest marker", d.badMarker),
		textNeedle("destination URL", d.destURL),
		textNeedle("destination URL path", strings.TrimPrefix(d.destPath, "/")),
		textNeedle("destination secret", d.destSecret),
		textNeedle("destination secret key (base64)", strings.TrimPrefix(d.destSecret, "whsec_")),
		{name: "destination secret key (raw)", value: d.destKey},
		textNeedle("source secret", d.srcSecret),
		textNeedle("source secret key (base64)", strings.TrimPrefix(d.srcSecret, "whsec_")),
		{name: "source secret key (raw)", value: d.srcKey},
		textNeedle("admin token", d.token),
	}
}

// scenarioIDs are the resources a privacy scenario created.
type scenarioIDs struct {
	destID, plainSrc, signedSrc string
	pubID, inID, sigID          string
}

// runPersonalDataScenario configures a destination and two sources, then
// publishes one event and ingests two (one through a signed source after a
// refused try), and waits until the sink accepted all three.
func runPersonalDataScenario(t *testing.T, p *proc, s *sink, d *personalData) scenarioIDs {
	t.Helper()
	var ids scenarioIDs
	var dest struct{ ID, Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", d.token, map[string]any{
		"name": "privacy", "url": d.destURL, "secret": d.destSecret}, &dest); code != http.StatusCreated || dest.Secret != d.destSecret {
		t.Fatalf("create destination: %d", code)
	}
	ids.destID = dest.ID
	s.setSecret(d.destSecret)

	subjectPaths := []map[string]string{{"path": "customer.email", "type": "email"}, {"path": "customer.id", "type": "customer_id"}}
	var plain, signed struct {
		ID        string
		IngestURL string `json:"ingest_url"`
	}
	if code := call(t, "POST", p.url+"/v1/sources", d.token, map[string]any{"name": "plain",
		"verification": map[string]any{"type": "none"}, "subject_paths": subjectPaths}, &plain); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}
	if code := call(t, "POST", p.url+"/v1/sources", d.token, map[string]any{"name": "signed",
		"verification": map[string]any{"type": "standard-webhooks", "secret": d.srcSecret}, "subject_paths": subjectPaths}, &signed); code != http.StatusCreated {
		t.Fatalf("create signed source: %d", code)
	}
	ids.plainSrc, ids.signedSrc = plain.ID, signed.ID

	ids.pubID = publish(t, p, d.token, map[string]any{"type": "customer.updated",
		"payload": map[string]any{"note": "hello " + d.pubMarker,
			"customer": map[string]any{"email": d.pubEmail, "id": d.pubCustomer, "phone": d.pubPhone}},
		"subjects": []map[string]string{{"type": "email", "value": d.pubEmail},
			{"type": "customer_id", "value": d.pubCustomer}, {"type": "phone", "value": d.pubPhone}}})

	inBody := fmt.Appendf(nil, `{"type":"customer.created","id":"prov_1","customer":{"email":%q,"id":%q},"note":%q}`,
		d.inEmail, d.inCustomer, d.inMarker)
	ids.inID = ingest(t, plain.IngestURL, inBody, http.Header{"Content-Type": {"application/json"}, "X-Note": {d.headerMarker}})

	sigBody := fmt.Appendf(nil, `{"type":"order.paid","customer":{"email":%q,"id":%q},"note":%q}`,
		d.sigEmail, d.sigCustomer, d.sigMarker)
	badBody := fmt.Appendf(nil, `{"type":"order.paid","note":%q,"customer":{"email":%q}}`, d.badMarker, d.sigEmail)
	wrongSecret, _ := newWhsec()
	if code, answer := postRaw(t, signed.IngestURL, badBody, signedHeaders(t, wrongSecret, "msg_"+randomHex(8), badBody)); code != http.StatusUnauthorized {
		t.Fatalf("ingest with a bad signature: %d %s", code, answer)
	}
	ids.sigID = ingest(t, signed.IngestURL, sigBody, signedHeaders(t, d.srcSecret, "msg_"+randomHex(8), sigBody))

	got := s.waitFor(t, []string{ids.pubID, ids.inID, ids.sigID}, 30*time.Second)
	if !bytes.Contains(got[ids.pubID], []byte(d.pubMarker)) || !bytes.Equal(got[ids.inID], inBody) || !bytes.Equal(got[ids.sigID], sigBody) {
		t.Fatalf("delivered bodies differ from what was sent: %q", got)
	}
	// Payload reads: the plaintext passes through the process once more.
	if ev := getEvent(t, p, d.token, ids.pubID); !bytes.Contains(ev.Payload, []byte(d.pubMarker)) {
		t.Fatalf("published payload reads back as %s", ev.Payload)
	}
	if ev := getEvent(t, p, d.token, ids.inID); !sameJSON(ev.Payload, inBody) {
		t.Fatalf("ingested payload reads back as %s", ev.Payload)
	}
	if ev := getEvent(t, p, d.token, ids.sigID); !sameJSON(ev.Payload, sigBody) {
		t.Fatalf("signed payload reads back as %s", ev.Payload)
	}
	return ids
}

// Guarantee 2: payloads, stored headers, subject values, destination URLs
// and secrets are nowhere in the data directory in plaintext: not while the
// process runs (the WAL is not checkpointed yet) and not after it stopped.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newSink(t, false)
	d := newPersonalData(s)
	p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+d.token, "SLUICE_LOG_LEVEL=debug")
	ids := runPersonalDataScenario(t, p, s, d)

	// The sealed values still open: the scan below is not passing because
	// nothing was kept.
	var dest struct{ URL string }
	if code := call(t, "GET", p.url+"/v1/destinations/"+ids.destID, d.token, nil, &dest); code != http.StatusOK || dest.URL != d.destURL {
		t.Fatalf("destination URL reads back as %q (%d)", dest.URL, code)
	}
	var secret struct{ Secret string }
	if code := call(t, "GET", p.url+"/v1/destinations/"+ids.destID+"/secret", d.token, nil, &secret); code != http.StatusOK || secret.Secret != d.destSecret {
		t.Fatalf("destination secret does not read back (%d)", code)
	}

	needles := d.needles()
	files := scanDataDir(t, dir, "while running", needles)
	requireFound(t, files, "while running", ids.pubID)
	stopSluice(t, p)
	files = scanDataDir(t, dir, "after SIGTERM", needles)
	requireFound(t, files, "after SIGTERM", ids.pubID)

	keyFile := filepath.Join(dir, "master.key")
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("master key file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("master.key has mode %o, want 600", perm)
	}
	// The master key belongs in its file and nowhere else.
	encoded := strings.TrimSpace(string(files["master.key"]))
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(raw) != 32 {
		t.Fatalf("master.key does not hold base64 of 32 bytes")
	}
	for name, data := range files {
		if name == "master.key" {
			continue
		}
		for _, found := range findIn(data, []needle{{name: "master key (base64)", value: []byte(encoded)}, {name: "master key (raw)", value: raw}}) {
			t.Errorf("%s contains the %s", name, found)
		}
	}
}

// requireFound fails unless some file holds s: a check that the scan reads
// the live data at all (event ids are plaintext metadata).
func requireFound(t *testing.T, files map[string][]byte, when, s string) {
	t.Helper()
	for _, data := range files {
		if bytes.Contains(data, []byte(s)) {
			return
		}
	}
	t.Fatalf("%s: no file holds the event id %s; the scan sees no data", when, s)
}

// Guarantee 3: through destinations, signed and refused ingest, a failed
// then successful delivery, payload reads, export, erasure, replay and
// payload deletion, the debug log carries ids and never a payload, subject
// value, secret, destination URL or token.
func TestLogHygiene(t *testing.T) {
	t.Parallel()
	s := newSink(t, true)
	d := newPersonalData(s)
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+d.token, "SLUICE_LOG_LEVEL=debug",
		"SLUICE_RETRY_SCHEDULE=0s,100ms,100ms,100ms")
	ids := runPersonalDataScenario(t, p, s, d)
	for _, id := range []string{ids.pubID, ids.inID, ids.sigID} {
		testkit.WaitFor(t, 15*time.Second, func() bool {
			var ds struct {
				Data []struct {
					Status   string
					Attempts int
				}
			}
			code := call(t, "GET", p.url+"/v1/events/"+id+"/deliveries", d.token, nil, &ds)
			return code == http.StatusOK && len(ds.Data) == 1 && ds.Data[0].Status == "succeeded" && ds.Data[0].Attempts == 2
		}, func() string { return "waiting for delivery of " + id + " recorded as succeeded after a retry" })
	}
	var secret struct{ Secret string }
	if code := call(t, "GET", p.url+"/v1/destinations/"+ids.destID+"/secret", d.token, nil, &secret); code != http.StatusOK {
		t.Fatalf("GET secret: %d", code)
	}

	var export struct {
		Data []struct {
			EventID string `json:"event_id"`
			Payload json.RawMessage
		}
	}
	exportURL := p.url + "/v1/subjects/export?type=email&value=" + url.QueryEscape(d.pubEmail)
	if code := call(t, "GET", exportURL, d.token, nil, &export); code != http.StatusOK ||
		len(export.Data) != 1 || export.Data[0].EventID != ids.pubID || !bytes.Contains(export.Data[0].Payload, []byte(d.pubMarker)) {
		t.Fatalf("export: %d %+v", code, export)
	}

	var erasure struct {
		ID             string
		EventsMatched  int `json:"events_matched"`
		PayloadsErased int `json:"payloads_erased"`
	}
	if code := call(t, "POST", p.url+"/v1/erasures", d.token, map[string]any{
		"subject": map[string]string{"type": "email", "value": d.pubEmail}}, &erasure); code != http.StatusOK ||
		erasure.EventsMatched != 1 || erasure.PayloadsErased != 1 {
		t.Fatalf("erasure: %d %+v", code, erasure)
	}
	if ev := getEvent(t, p, d.token, ids.pubID); ev.PayloadState != "erased" || string(ev.Payload) != "null" {
		t.Fatalf("after erasure the event reads %+v", ev)
	}
	expectGone(t, p, d.token, ids.pubID)

	if code := call(t, "DELETE", p.url+"/v1/events/"+ids.inID+"/payload", d.token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE payload: %d", code)
	}
	if ev := getEvent(t, p, d.token, ids.inID); ev.PayloadState != "erased" || string(ev.Payload) != "null" {
		t.Fatalf("after DELETE payload the event reads %+v", ev)
	}
	expectGone(t, p, d.token, ids.inID)

	var audit json.RawMessage
	if code := call(t, "GET", p.url+"/v1/audit?limit=500", d.token, nil, &audit); code != http.StatusOK {
		t.Fatalf("audit: %d", code)
	}
	if found := findIn(audit, d.needles()); len(found) > 0 {
		t.Errorf("the audit log shows %v", found)
	}
	stopSluice(t, p)

	log := p.log() + p.stdout.String()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) < 10 {
		t.Fatalf("the debug log has only %d lines:\n%s", len(lines), log)
	}
	for _, id := range []string{ids.pubID, ids.inID, ids.sigID} {
		if !strings.Contains(log, id) {
			t.Errorf("the log never mentions event %s", id)
		}
	}
	needles := append(d.needles(), textNeedle("destination host:port", strings.TrimPrefix(s.srv.URL, "http://")))
	for i, line := range lines {
		if found := findIn([]byte(line), needles); len(found) > 0 {
			t.Errorf("log line %d shows %v: %s", i+1, found, line)
		}
		// The only address with a port a line may name is Sluice's own:
		// a client's is personal data.
		for _, addr := range addrPortRE.FindAllString(line, -1) {
			if addr != p.addr {
				t.Errorf("log line %d names the address %s: %s", i+1, addr, line)
			}
		}
	}
}

// addrPortRE matches an IPv4 or bracketed IPv6 address with a port.
var addrPortRE = regexp.MustCompile(`(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d+`)

// expectGone replays an event whose payload is gone: 410 with code gone.
func expectGone(t *testing.T, p *proc, token, id string) {
	t.Helper()
	var res struct{ Error struct{ Code string } }
	if code := call(t, "POST", p.url+"/v1/events/"+id+"/replay", token, map[string]any{}, &res); code != http.StatusGone || res.Error.Code != "gone" {
		t.Fatalf("replay of %s: %d %+v, want 410 gone", id, code, res)
	}
}

// Guarantee 4: a payload past its retention is purged by the retention
// service; the event's metadata, its delivery and its attempt stay, and it
// can no longer be replayed or exported.
func TestRetentionEndToEnd(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	p := startSluice(t, t.TempDir(), "SLUICE_ADMIN_TOKEN="+token,
		"SLUICE_PAYLOAD_RETENTION=2s", "SLUICE_RETENTION_INTERVAL=200ms")
	s := newSink(t, false)
	var dest struct{ ID, Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "retention", "url": s.srv.URL}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	s.setSecret(dest.Secret)
	marker, email := "retmark"+randomHex(8), "ret"+randomHex(5)+"@example.com"
	id := publish(t, p, token, map[string]any{"type": "invoice.paid", "payload": map[string]any{"note": marker, "email": email}})
	s.waitFor(t, []string{id}, 30*time.Second)
	type delivery struct {
		ID, Status string
		Attempts   int
	}
	var ds struct{ Data []delivery }
	testkit.WaitFor(t, 15*time.Second, func() bool {
		ds.Data = nil
		call(t, "GET", p.url+"/v1/events/"+id+"/deliveries", token, nil, &ds)
		return len(ds.Data) == 1 && ds.Data[0].Status == "succeeded"
	}, func() string { return "waiting for the delivery recorded as succeeded" })

	var ev eventView
	testkit.WaitFor(t, 15*time.Second, func() bool {
		ev = getEvent(t, p, token, id)
		return ev.PayloadState == "expired"
	}, func() string { return "waiting for payload_state expired" })
	testkit.WaitFor(t, 15*time.Second, func() bool {
		return strings.Contains(p.log(), `msg="retention purged" payloads=1`)
	}, func() string { return "waiting for the retention service to report the purge" })
	ev = getEvent(t, p, token, id)
	if ev.PayloadState != "expired" || string(ev.Payload) != "null" || ev.Type != "invoice.paid" || ev.Status != "delivered" {
		t.Fatalf("after the purge the event reads %+v", ev)
	}
	ds.Data = nil
	call(t, "GET", p.url+"/v1/events/"+id+"/deliveries", token, nil, &ds)
	if len(ds.Data) != 1 || ds.Data[0].Status != "succeeded" || ds.Data[0].Attempts != 1 {
		t.Fatalf("after the purge deliveries = %+v", ds.Data)
	}
	var attempts struct {
		Data []struct {
			DeliveryID string `json:"delivery_id"`
			Outcome    string
			HTTPStatus int `json:"http_status"`
		}
	}
	call(t, "GET", p.url+"/v1/events/"+id+"/attempts", token, nil, &attempts)
	if len(attempts.Data) != 1 || attempts.Data[0].DeliveryID != ds.Data[0].ID ||
		attempts.Data[0].Outcome != "succeeded" || attempts.Data[0].HTTPStatus != http.StatusNoContent {
		t.Fatalf("after the purge attempts = %+v", attempts.Data)
	}
	expectGone(t, p, token, id)
	var export struct{ Data []json.RawMessage }
	if code := call(t, "GET", p.url+"/v1/subjects/export?type=email&value="+url.QueryEscape(email), token, nil, &export); code != http.StatusOK || len(export.Data) != 0 {
		t.Fatalf("export after expiry: %d %d entries", code, len(export.Data))
	}
	stopSluice(t, p)
}
