package main_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// noMasterKeyEnv makes sure no SLUICE_MASTER_KEY reaches a command from the
// test's own environment: an empty value counts as unset.
const noMasterKeyEnv = "SLUICE_MASTER_KEY="

// sealedData is what a key test stores and expects to read back after the
// master key changed: payloads, a destination's URL and secret, a source's
// secret.
type sealedData struct {
	token    string
	payloads map[string][]byte // event id → the published payload
	emails   map[string]string // event id → the email in its payload
	destID   string
	destURL  string
	destSec  string
	srcURL   string // ingest URL path, without the host
	srcSec   string
}

// storeSealedData publishes a few events and creates a disabled
// destination (so the payloads wait, retained) and a signed source.
func storeSealedData(t *testing.T, p *proc, token string) *sealedData {
	t.Helper()
	sd := &sealedData{token: token, payloads: make(map[string][]byte), emails: make(map[string]string)}
	sd.destURL = "http://127.0.0.1:9/u-" + randomHex(8)
	var dest struct{ ID, Secret string }
	if code := call(t, "POST", p.url+"/v1/destinations", token, map[string]any{
		"name": "off", "url": sd.destURL, "enabled": false}, &dest); code != http.StatusCreated {
		t.Fatalf("create destination: %d", code)
	}
	sd.destID, sd.destSec = dest.ID, dest.Secret
	sd.srcSec, _ = newWhsec()
	var src struct {
		IngestURL string `json:"ingest_url"`
	}
	if code := call(t, "POST", p.url+"/v1/sources", token, map[string]any{"name": "signed",
		"verification": map[string]any{"type": "standard-webhooks", "secret": sd.srcSec}}, &src); code != http.StatusCreated {
		t.Fatalf("create source: %d", code)
	}
	sd.srcURL = strings.TrimPrefix(src.IngestURL, p.url)
	for i := range 3 {
		email := "k" + randomHex(4) + "@example.com"
		payload, err := json.Marshal(map[string]any{"n": i, "note": "keymark" + randomHex(8), "email": email})
		if err != nil {
			t.Fatal(err)
		}
		id := publish(t, p, token, map[string]any{"type": "key.test", "payload": json.RawMessage(payload)})
		sd.payloads[id], sd.emails[id] = payload, email
	}
	sd.check(t, p)
	return sd
}

// check reads everything sealed back through the API of p.
func (sd *sealedData) check(t *testing.T, p *proc) {
	t.Helper()
	for id, want := range sd.payloads {
		ev := getEvent(t, p, sd.token, id)
		if ev.PayloadState != "retained" || !sameJSON(ev.Payload, want) {
			t.Fatalf("event %s reads %s (%s, error %q), want %s", id, ev.Payload, ev.PayloadState, ev.PayloadError, want)
		}
		// The subject index is keyed from the data key, which a rotation
		// keeps: the email still finds its event.
		var export struct {
			Data []struct {
				EventID string `json:"event_id"`
				Payload json.RawMessage
			}
		}
		code := call(t, "GET", p.url+"/v1/subjects/export?type=email&value="+url.QueryEscape(sd.emails[id]), sd.token, nil, &export)
		if code != http.StatusOK || len(export.Data) != 1 || export.Data[0].EventID != id || !sameJSON(export.Data[0].Payload, want) {
			t.Fatalf("export of event %s's subject: %d %+v", id, code, export.Data)
		}
	}
	var dest struct{ URL string }
	if code := call(t, "GET", p.url+"/v1/destinations/"+sd.destID, sd.token, nil, &dest); code != http.StatusOK || dest.URL != sd.destURL {
		t.Fatalf("destination URL reads %q (%d)", dest.URL, code)
	}
	var secret struct{ Secret string }
	if code := call(t, "GET", p.url+"/v1/destinations/"+sd.destID+"/secret", sd.token, nil, &secret); code != http.StatusOK || secret.Secret != sd.destSec {
		t.Fatalf("destination secret does not read back (%d)", code)
	}
	body := []byte(`{"type":"key.ingest","n":"` + randomHex(4) + `"}`)
	ingest(t, p.url+sd.srcURL, body, signedHeaders(t, sd.srcSec, "msg_"+randomHex(8), body))
}

// rotate runs `sluice keys rotate` and expects success, with output that
// reports the re-wrap and never shows a key.
func rotate(t *testing.T, keys []string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runSluice(t, []string{noMasterKeyEnv}, append([]string{"keys", "rotate"}, args...)...)
	if code != 0 {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "re-wrapped") {
		t.Errorf("keys rotate output does not mention re-wrapped:\n%s", stdout)
	}
	for _, k := range keys {
		if strings.Contains(stdout+stderr, k) {
			t.Errorf("keys rotate printed a master key:\n%s%s", stdout, stderr)
		}
	}
	return stdout
}

// readKeyFile returns the data dir's master key file, trimmed, after
// checking it is readable by the owner only.
func readKeyFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "master.key")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("master key file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("master.key has mode %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// noKeyFile fails if the data dir has a master key file.
func noKeyFile(t *testing.T, dir, when string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "master.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: master.key exists (%v)", when, err)
	}
}

// mustNameMasterKey fails unless a refusal names the master key setting
// without repeating the keys given.
func mustNameMasterKey(t *testing.T, when, out string, keys ...string) {
	t.Helper()
	if !strings.Contains(out, "--master-key") || !strings.Contains(out, "SLUICE_MASTER_KEY") {
		t.Errorf("%s: the refusal does not name --master-key (SLUICE_MASTER_KEY):\n%s", when, out)
	}
	for _, k := range keys {
		if strings.Contains(out, k) {
			t.Errorf("%s: the refusal repeats a master key:\n%s", when, out)
		}
	}
}

// `sluice keys rotate` re-wraps the data keys: afterwards only the new key
// opens the store, and everything sealed reads back unchanged.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	t.Run("given keys", func(t *testing.T) {
		t.Parallel()
		dir, token := t.TempDir(), sluice.NewToken()
		k1, k2, k3 := newMasterKey(), newMasterKey(), newMasterKey()
		p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, "SLUICE_MASTER_KEY="+k1)
		sd := storeSealedData(t, p, token)
		stopSluice(t, p)
		noKeyFile(t, dir, "with SLUICE_MASTER_KEY set")

		rotate(t, []string{k1, k2}, "--data-dir", dir, "--master-key", k1, "--new-master-key", k2)
		noKeyFile(t, dir, "after rotating given keys")

		mustNameMasterKey(t, "serve with the old key", serveMustFail(t, dir, "SLUICE_MASTER_KEY="+k1), k1)
		code, stdout, stderr := runSluice(t, []string{noMasterKeyEnv},
			"keys", "rotate", "--data-dir", dir, "--master-key", k1, "--new-master-key", k3)
		if code == 0 {
			t.Fatalf("keys rotate from the old key: exit 0\n%s", stdout)
		}
		mustNameMasterKey(t, "keys rotate from the old key", stdout+stderr, k1, k3)

		p = startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, "SLUICE_MASTER_KEY="+k2)
		sd.check(t, p)
		stopSluice(t, p)
	})
	t.Run("key file", func(t *testing.T) {
		t.Parallel()
		dir, token := t.TempDir(), sluice.NewToken()
		p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, noMasterKeyEnv)
		sd := storeSealedData(t, p, token)
		stopSluice(t, p)
		generated := readKeyFile(t, dir)

		k3 := newMasterKey()
		out := rotate(t, []string{generated, k3}, "--data-dir", dir, "--new-master-key", k3)
		if !strings.Contains(out, "master.key") {
			t.Errorf("keys rotate does not say it replaced master.key:\n%s", out)
		}
		if got := readKeyFile(t, dir); got != k3 {
			t.Fatalf("master.key does not hold the new key after rotation")
		}
		if _, err := os.Stat(filepath.Join(dir, "master.key.new")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a temporary key file was left behind (%v)", err)
		}
		mustNameMasterKey(t, "serve with the generated key", serveMustFail(t, dir, "SLUICE_MASTER_KEY="+generated), generated)

		p = startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, noMasterKeyEnv)
		sd.check(t, p)
		stopSluice(t, p)
		if got := readKeyFile(t, dir); got != k3 {
			t.Fatalf("master.key changed on restart")
		}
	})
}

// fileDigest is a file's size and SHA-256.
func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%d bytes, sha256 %x", len(data), sum)
}

// A store whose master key is missing or wrong refuses to start, naming the
// setting, and neither generates a new key nor touches the store.
func TestMasterKeyRequired(t *testing.T) {
	t.Parallel()
	dir, token := t.TempDir(), sluice.NewToken()
	p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, noMasterKeyEnv)
	sd := storeSealedData(t, p, token)
	stopSluice(t, p)
	generated := readKeyFile(t, dir)
	if err := os.Remove(filepath.Join(dir, "master.key")); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "sluice.db")
	before := fileDigest(t, store)
	unchanged := func(when string) {
		t.Helper()
		noKeyFile(t, dir, when)
		if fileDigest(t, store) != before {
			t.Fatalf("%s: sluice.db changed", when)
		}
	}

	mustNameMasterKey(t, "serve without the key file", serveMustFail(t, dir, noMasterKeyEnv))
	unchanged("serve without the key file")

	wrong := newMasterKey()
	mustNameMasterKey(t, "serve with a wrong key", serveMustFail(t, dir, "SLUICE_MASTER_KEY="+wrong), wrong)
	unchanged("serve with a wrong key")

	mustNameMasterKey(t, "serve with a malformed key", serveMustFail(t, dir, "SLUICE_MASTER_KEY=not-a-key"), "not-a-key")
	unchanged("serve with a malformed key")

	code, stdout, stderr := runSluice(t, []string{noMasterKeyEnv}, "keys", "rotate", "--data-dir", dir, "--new-master-key", newMasterKey())
	if code == 0 {
		t.Fatalf("keys rotate without the key: exit 0\n%s", stdout)
	}
	mustNameMasterKey(t, "keys rotate without the key", stdout+stderr)
	unchanged("keys rotate without the key")

	// The key it was sealed with still opens it.
	p = startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token, "SLUICE_MASTER_KEY="+generated)
	sd.check(t, p)
	stopSluice(t, p)
	noKeyFile(t, dir, "serve with the key given")
}

// While a server runs on a data directory, neither a key rotation nor a
// second server may use it: the rotation would leave the running server
// sealing under the retired key.
func TestDataDirIsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, k2 := newMasterKey(), newMasterKey()
	p := startSluice(t, dir, "SLUICE_MASTER_KEY="+k1)

	code, stdout, stderr := runSluice(t, []string{noMasterKeyEnv}, "keys", "rotate", "--data-dir", dir,
		"--master-key", k1, "--new-master-key", k2)
	if code == 0 || !strings.Contains(stdout+stderr, "in use by another process") {
		t.Fatalf("keys rotate under a running server: exit %d\n%s%s", code, stdout, stderr)
	}
	if out := serveMustFail(t, dir, "SLUICE_MASTER_KEY="+k1); !strings.Contains(out, "in use by another process") {
		t.Errorf("a second server on the data dir said:\n%s", out)
	}
	stopSluice(t, p)
	rotate(t, []string{k1, k2}, "--data-dir", dir, "--master-key", k1, "--new-master-key", k2)
}
