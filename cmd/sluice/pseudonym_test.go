package main_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Two destinations pseudonymising customer.email, against the real binary
// and real receivers: each gets tokens, never the address; one subject
// has one token at a destination across events and another at the other
// destination; the admin resolves a token, erases the subject, and the
// token no longer resolves. No address or token reaches the log, nor an
// address the data directory.
func TestPseudonymousTokens(t *testing.T) {
	t.Parallel()
	token := sluice.NewToken()
	dir := t.TempDir()
	p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, "SLUICE_LOG_LEVEL=debug")

	sinks := make([]*sink, 2)
	destIDs := make([]string, 2)
	for i := range sinks {
		sinks[i] = newSink(t, false)
		secret, _ := newWhsec()
		sinks[i].setSecret(secret)
		var d struct{ ID string }
		if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{"name": "analytics-" + randomHex(3),
			"url": sinks[i].srv.URL + "/hook", "secret": secret, "pseudonymize": []string{"customer.email"}}, &d); code != http.StatusCreated {
			t.Fatalf("create destination: %d", code)
		}
		destIDs[i] = d.ID
	}

	ada := "Ada.Pseudo" + randomHex(4) + "@Example.com"
	grace := "grace.pseudo" + randomHex(4) + "@example.org"
	var ids []string
	for _, email := range []string{ada, strings.ToLower(ada), grace} {
		ids = append(ids, publish(t, p, token, map[string]any{"type": "order.created",
			"payload": map[string]any{"customer": map[string]any{"email": email, "plan": "pro"}, "total": 12}}))
	}

	// tokens[i][j] is what destination i got for event j.
	tokens := make([][]string, 2)
	for i, s := range sinks {
		bodies := s.waitFor(t, ids, 30*time.Second)
		for _, id := range ids {
			body := bodies[id]
			if findIn(body, []needle{textNeedle("ada", ada), textNeedle("grace", grace)}) != nil {
				t.Fatalf("destination %d got an address: %s", i, body)
			}
			var got struct {
				Customer struct{ Email, Plan string }
			}
			if err := json.Unmarshal(body, &got); err != nil || !strings.HasPrefix(got.Customer.Email, "pst_") ||
				got.Customer.Plan != "pro" {
				t.Fatalf("destination %d got %s, %v; want a token and the rest", i, body, err)
			}
			tokens[i] = append(tokens[i], got.Customer.Email)
		}
	}
	for i := range sinks {
		if tokens[i][0] != tokens[i][1] {
			t.Fatalf("destination %d got two tokens for one subject: %v", i, tokens[i])
		}
		if tokens[i][0] == tokens[i][2] {
			t.Fatalf("destination %d got one token for two subjects: %v", i, tokens[i])
		}
	}
	if tokens[0][0] == tokens[1][0] || tokens[0][2] == tokens[1][2] {
		t.Fatalf("the two destinations got the same tokens: %v and %v", tokens[0], tokens[1])
	}

	resolve := func(dest, tok string) (int, map[string]string) {
		var out struct{ Subject map[string]string }
		code := call(t, "POST", p.url+"/v1/pseudonyms/resolve", token,
			map[string]string{"destination_id": dest, "token": tok}, &out)
		return code, out.Subject
	}
	if code, subj := resolve(destIDs[0], tokens[0][0]); code != http.StatusOK || subj["type"] != "email" ||
		subj["value"] != strings.ToLower(ada) {
		t.Fatalf("resolve = %d %v, want the address", code, subj)
	}
	if code, _ := resolve(destIDs[1], tokens[0][0]); code != http.StatusNotFound {
		t.Fatalf("one destination's token at the other: %d, want 404", code)
	}

	if code := call(t, "POST", p.url+"/v1/erasures", token,
		map[string]any{"subject": map[string]string{"type": "email", "value": ada}}, nil); code != http.StatusOK {
		t.Fatalf("erase: %d", code)
	}
	for i := range sinks {
		if code, _ := resolve(destIDs[i], tokens[i][0]); code != http.StatusNotFound {
			t.Fatalf("a token of the erased subject at destination %d: %d, want 404", i, code)
		}
	}
	if code, subj := resolve(destIDs[1], tokens[1][2]); code != http.StatusOK || subj["value"] != grace {
		t.Fatalf("another subject's token after the erasure: %d %v", code, subj)
	}

	var audit struct{ Data []struct{ Action string } }
	call(t, "GET", p.url+"/v1/audit?limit=100", token, nil, &audit)
	resolves := 0
	for _, e := range audit.Data {
		if e.Action == "pseudonym.resolve" {
			resolves++
		}
	}
	if resolves != 5 {
		t.Fatalf("%d pseudonym.resolve audit entries, want 5", resolves)
	}

	needles := []needle{textNeedle("ada", ada), textNeedle("grace", grace)}
	for i := range tokens {
		for _, tok := range tokens[i] {
			needles = append(needles, textNeedle("a token", tok))
		}
	}
	logs := []byte(p.log() + p.stdout.String())
	if found := findIn(logs, needles); found != nil {
		t.Fatalf("the log holds %v", found)
	}
	scanDataDir(t, dir, "after the erasure", needles[:2])
}
