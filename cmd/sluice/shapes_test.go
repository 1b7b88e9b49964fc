package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// keyedPeople is personal data sent as the keys of JSON objects, not as
// their values. Each is random or holds a random marker, so it is found
// nowhere by chance, and a part of one holding its marker is found too.
type keyedPeople struct {
	email, email2, phone, phoneDigits, uuid, spaced, accented, cjk string
	markers                                                        []string
}

func newKeyedPeople() *keyedPeople {
	k := &keyedPeople{}
	mark := func() string {
		m := randomHex(6)
		k.markers = append(k.markers, m)
		return m
	}
	k.email = "Mallory.X" + mark() + "@Example.COM"
	k.email2 = "p" + mark() + "+news@example.org"
	digits := fmt.Sprintf("%06d", rand.IntN(1_000_000))
	k.phone, k.phoneDigits = "+44 7700 9"+digits[:2]+" "+digits[2:], "4477009"+digits
	k.uuid = fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", rand.Uint32(), rand.IntN(1<<16), rand.IntN(1<<12),
		0x8000|rand.IntN(1<<14), rand.Int64N(1<<48))
	k.spaced = "Ada Q" + mark() + " Lovelace"
	k.accented = "José Núñez-Ångström " + mark()
	k.cjk = "山田 太郎 " + mark()
	return k
}

// needles names each value by what it is, never by the value itself.
func (k *keyedPeople) needles(which string) []needle {
	ns := []needle{
		textNeedle(which+": an email address", k.email),
		textNeedle(which+": a second email address", k.email2),
		textNeedle(which+": a phone number", k.phone),
		textNeedle(which+": a phone number's digits", k.phoneDigits),
		textNeedle(which+": a UUID", k.uuid),
		textNeedle(which+": a name with spaces", k.spaced),
		textNeedle(which+": a name with accents", k.accented),
		textNeedle(which+": a name in kanji", k.cjk),
	}
	for i, m := range k.markers {
		ns = append(ns, textNeedle(fmt.Sprintf("%s: a part of a value (marker %d)", which, i+1), m))
	}
	return ns
}

// shapeOnly is an event of typ whose objects have no keys but identifiers;
// withKeys (below) adds keys that are personal data, so its first arrival
// is a schema drift.
func shapeOnly(typ string) map[string]any {
	return map[string]any{"type": typ, "account": map[string]any{"plan": "pro"},
		"by_email": map[string]any{}, "contacts": []any{}, "people": []any{}}
}

// withKeys is shapeOnly with k's values as keys: at the top, two and four
// levels down, in arrays and arrays of arrays.
func (k *keyedPeople) withKeys(typ string) map[string]any {
	body := shapeOnly(typ)
	body[k.email2] = true
	body["by_email"] = map[string]any{
		k.email:  map[string]any{"plan": "pro", "seats": 2},
		k.email2: map[string]any{"plan": "free"},
	}
	body["contacts"] = []any{map[string]any{k.phone: map[string]any{"verified": true}}, map[string]any{k.phoneDigits: 1}}
	body["by_id"] = map[string]any{k.uuid: map[string]any{"tier": "gold"}}
	body["people"] = []any{
		[]any{map[string]any{k.spaced: map[string]any{"age": 36}}},
		map[string]any{k.accented: map[string]any{"deep": map[string]any{k.cjk: map[string]any{"ok": true}}}},
	}
	return body
}

// Personal data as object keys (emails, phone numbers, UUIDs, names with
// spaces and accents, at several depths and in arrays) is recorded as "*":
// it is nowhere in the data directory, the metrics, the audit log, the
// data map (API and dashboard), the event list, the debug log or the
// payloads of the operational events delivered to a destination of
// sluice.*, the schema-drift notices included. A second event of the same
// shape with other people as keys alerts no drift.
//
// On PostgreSQL the scan reads the files of the schema's tables and
// indexes in the server's data directory.
func TestPersonalDataAsKeysIsNotRecorded(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir, token := t.TempDir(), sluice.NewToken()
		p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, "SLUICE_LOG_LEVEL=debug")
		testPersonalDataAsKeys(t, p, token, func(t *testing.T) map[string][]byte { return readDataDir(t, dir) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		c := newPGCluster(t)
		p := c.startWith(t, "", "SLUICE_LOG_LEVEL=debug")
		testPersonalDataAsKeys(t, p, c.token, c.readRelationFiles)
	})
}

// testPersonalDataAsKeys runs the scenario against p, reading the store's
// files with files.
func testPersonalDataAsKeys(t *testing.T, p *proc, token string, files func(t *testing.T) map[string][]byte) {
	s := newSink(t, false)
	first, second := newKeyedPeople(), newKeyedPeople()
	needles := append(first.needles("first"), second.needles("second")...)

	var dest struct{ ID, Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "alerts",
		"url": s.srv.URL + "/alerts", "event_types": []string{"sluice.*"}}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	s.setSecret(dest.Secret)
	var src struct {
		ID        string
		IngestURL string `json:"ingest_url"`
	}
	if code := call(t, "POST", p.url+"/v1/sources", token, map[string]any{"name": "crm",
		"verification": map[string]any{"type": "none"}}, &src); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}

	// Published, then ingested: a shape without the keys, then two events
	// with personal data as keys.
	const published, ingested = "profile.updated", "contact.synced"
	publish(t, p, token, map[string]any{"type": published, "payload": shapeOnly(published)})
	for _, k := range []*keyedPeople{first, second} {
		publish(t, p, token, map[string]any{"type": published, "payload": k.withKeys(published)})
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	for _, body := range []map[string]any{shapeOnly(ingested), first.withKeys(ingested), second.withKeys(ingested)} {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		ingest(t, src.IngestURL, b, jsonHeader)
	}

	// Each type drifted once: the second people's keys were "*" already.
	var listed struct {
		Data []struct{ ID, Type string }
	}
	if code := call(t, "GET", p.url+"/v1/events?limit=500", token, nil, &listed); code != http.StatusOK {
		t.Fatalf("list events: %d", code)
	}
	var notices, drifts []string
	for _, e := range listed.Data {
		if sluice.IsNotice(e.Type) {
			notices = append(notices, e.ID)
		}
		if e.Type == sluice.NoticeAnomalyPrefix+sluice.AnomalySchemaDrift {
			drifts = append(drifts, e.ID)
		}
	}
	if len(drifts) != 2 || len(notices) != 2 {
		t.Fatalf("%d drift notices of %d operational events, want one drift per event type and nothing else", len(drifts), len(notices))
	}
	delivered := s.waitFor(t, notices, 30*time.Second)
	wantPaths := []string{"by_email.*", "by_email.*.plan", "contacts[].*.verified", "by_id.*.tier", "people[][].*.age",
		"people[].*.deep.*.ok"}
	for _, id := range drifts {
		var n sluice.AnomalyNotice
		if err := json.Unmarshal(delivered[id], &n); err != nil {
			t.Fatalf("drift notice %s: %v", id, err)
		}
		for _, want := range wantPaths {
			if !strings.Contains(n.Detail+", ", " "+want+", ") {
				t.Errorf("drift notice %s of %s does not name %s: the keys were not recorded as *", id, n.EventType, want)
			}
		}
	}
	for id, body := range delivered {
		requireAbsent(t, "delivered notice "+id, body, needles)
		requireAbsent(t, "delivered notice "+id+" (its decoded strings)", jsonStrings(body), needles)
	}

	for _, endpoint := range []string{"/metrics", "/v1/audit?limit=500", "/v1/datamap", "/v1/events?limit=500"} {
		body := getRaw(t, p.url+endpoint, token)
		if endpoint == "/v1/datamap" && !bytes.Contains(body, []byte(published)) {
			t.Fatalf("the data map names no %s: it saw nothing", published)
		}
		requireAbsent(t, "GET "+endpoint, body, needles)
		requireAbsent(t, "GET "+endpoint+" (its decoded strings)", jsonStrings(body), needles)
	}
	page := dashboardPage(t, p.url, token, "/ui/datamap")
	if !strings.Contains(page, ingested) {
		t.Fatalf("the dashboard's data map names no %s: it saw nothing", ingested)
	}
	requireAbsent(t, "the dashboard's data map", []byte(page), needles)
	requireAbsent(t, "the dashboard's data map (unescaped)", []byte(html.UnescapeString(page)), needles)

	// The observations are stored in plaintext, so the scan reads them:
	// the folded path is there, the keys are not.
	scanKeys := func(when string) {
		t.Helper()
		seen := false
		for name, data := range files(t) {
			requireAbsent(t, when+": "+name, data, needles)
			seen = seen || bytes.Contains(data, []byte("people[].*.deep.*.ok"))
		}
		if !seen {
			t.Fatalf("%s: no file holds the folded field path; the scan sees no observations", when)
		}
	}
	scanKeys("while running")
	stopSluice(t, p)
	scanKeys("after SIGTERM")
	requireAbsent(t, "the debug log", []byte(p.log()+p.stdout.String()), needles)
}

// requireAbsent fails for each needle data holds, saying where and at which
// offset, never what.
func requireAbsent(t *testing.T, where string, data []byte, needles []needle) {
	t.Helper()
	folded := foldASCII(data)
	for _, n := range needles {
		at := bytes.Index(data, n.value)
		if n.fold {
			at = bytes.Index(folded, foldASCII(n.value))
		}
		if at >= 0 {
			t.Errorf("%s (%d bytes) holds %s at offset %d", where, len(data), n.name, at)
		}
	}
}

// jsonStrings is every key and string of a JSON text, escapes resolved,
// one a line; nothing for a text that is not JSON.
func jsonStrings(data []byte) []byte {
	var out []byte
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil { // io.EOF at the end
			return out
		}
		if s, ok := tok.(string); ok {
			out = append(append(out, s...), '\n')
		}
	}
}

// getRaw GETs url with the token and returns the body of a 200.
func getRaw(t *testing.T, url, token string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body := []byte(readAll(t, res))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	return body
}

// dashboardPage signs in to the dashboard with the token, as a client that
// is no browser may, and returns the page at path.
func dashboardPage(t *testing.T, base, token, path string) string {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.PostForm(base+"/ui/login", map[string][]string{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	session := cookieNamed(res, "sluice_session")
	if res.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign in to the dashboard: %d", res.StatusCode)
	}
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(session)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	page := readAll(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	return page
}
