package inbound_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stripe/stripe-go/v85/webhook"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

// Fixed fuzzing secrets and clock (now, 1700000000); the seed corpora in
// testdata/fuzz carry signatures made with them.
const (
	fuzzStripeSecret   = "whsec_fuzz_stripe_secret"
	fuzzStandardSecret = "whsec_ZnV6ei1zdGFuZGFyZC13ZWJob29rcy1rZXktMzI=" // base64 of 29 bytes
	fuzzHMACSecret     = "fuzz-hmac-secret"
)

// wantClass fails t unless err is one of Verify's four reason classes.
func wantClass(t *testing.T, err error) {
	t.Helper()
	for _, class := range []error{inbound.ErrMissing, inbound.ErrMalformed, inbound.ErrMismatch, inbound.ErrStale} {
		if errors.Is(err, class) {
			return
		}
	}
	t.Fatalf("Verify = %v, not one of the reason classes", err)
}

func FuzzVerifyStripe(f *testing.F) {
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	genuine := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: fuzzStripeSecret, Timestamp: now}).Header
	f.Add(genuine, body)
	f.Add(genuine+",v1=00,v0=ff", body)
	f.Add(genuine, []byte(`{"id":"evt_2"}`))
	f.Add("t="+ts+",v1=", body)
	f.Add("t=,v1=", []byte{})
	f.Add("v1=abcdef", body)
	f.Add("t="+ts+",t="+ts+",v1=00", body)
	f.Add("garbage", []byte("not json"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		v := &sluice.Verification{Type: sluice.VerifyStripe, Secret: fuzzStripeSecret}
		err := inbound.Verify(v, http.Header{"Stripe-Signature": {header}}, body, now)
		if err == nil && !stripeGenuine(header, body) {
			t.Fatalf("accepted a Stripe-Signature that carries no valid signature")
		}
		if err != nil {
			wantClass(t, err)
		}
		// stripe-go's signature for this body must always pass.
		p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: fuzzStripeSecret, Timestamp: now})
		if err := inbound.Verify(v, http.Header{"Stripe-Signature": {p.Header}}, body, now); err != nil {
			t.Fatalf("stripe-go signature rejected: %v", err)
		}
	})
}

// stripeGenuine is an independent, looser reading of a Stripe-Signature:
// some t entry within the tolerance and some v1 entry that is the HMAC of
// that t, ".", and body.
func stripeGenuine(header string, body []byte) bool {
	var ts, sigs []string
	for pair := range strings.SplitSeq(strings.TrimSpace(header), ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
		switch k {
		case "t":
			ts = append(ts, val)
		case "v1":
			sigs = append(sigs, val)
		}
	}
	for _, t := range ts {
		unix, err := strconv.ParseInt(t, 10, 64)
		if err != nil || unix < now.Unix()-300 || unix > now.Unix()+300 {
			continue
		}
		m := hmac.New(sha256.New, []byte(fuzzStripeSecret))
		m.Write([]byte(t + "."))
		m.Write(body)
		want := m.Sum(nil)
		for _, s := range sigs {
			if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

func FuzzVerifyStandardWebhooks(f *testing.F) {
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"type":"user.created","id":"u_1"}`)
	wh, err := standardwebhooks.NewWebhook(fuzzStandardSecret)
	if err != nil {
		f.Fatal(err)
	}
	genuine, err := wh.Sign("msg_1", now, body)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(false, "msg_1", ts, genuine, body)
	f.Add(true, "msg_1", ts, genuine, body)
	f.Add(false, "msg_1", ts, "v1,AAAA "+genuine+" v1a,xyz", body)
	f.Add(false, "msg_2", ts, genuine, body)
	f.Add(false, "msg_1", "+"+ts, genuine, body)
	f.Add(false, "msg_1", ts, "v1,", []byte{})
	f.Add(true, "", "", "", []byte("x"))
	f.Add(false, "msg_1", "99999999999999999999", genuine, body)
	f.Fuzz(func(t *testing.T, svixNames bool, id, ts, sig string, body []byte) {
		names := [3]string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
		if svixNames {
			names = [3]string{"Svix-Id", "Svix-Timestamp", "Svix-Signature"}
		}
		h := http.Header{names[0]: {id}, names[1]: {ts}, names[2]: {sig}}
		v := &sluice.Verification{Type: sluice.VerifyStandardWebhooks, Secret: fuzzStandardSecret}
		err := inbound.Verify(v, h, body, now)
		if err == nil && !standardGenuine(id, ts, sig, body) {
			t.Fatalf("accepted headers that carry no valid signature")
		}
		if err != nil {
			wantClass(t, err)
		}
		// The reference libraries' signatures for this id and body must pass.
		if id == "" || id != strings.TrimSpace(id) {
			return
		}
		unix := strconv.FormatInt(now.Unix(), 10)
		wh, err := standardwebhooks.NewWebhook(fuzzStandardSecret)
		if err != nil {
			t.Fatal(err)
		}
		good, err := wh.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		sh := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {unix}, "Webhook-Signature": {good}}
		if err := inbound.Verify(v, sh, body, now); err != nil {
			t.Fatalf("standard-webhooks signature rejected: %v", err)
		}
		sv, err := svix.NewWebhook(fuzzStandardSecret)
		if err != nil {
			t.Fatal(err)
		}
		good, err = sv.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		sh = http.Header{"Svix-Id": {id}, "Svix-Timestamp": {unix}, "Svix-Signature": {good}}
		if err := inbound.Verify(v, sh, body, now); err != nil {
			t.Fatalf("svix signature rejected: %v", err)
		}
	})
}

// standardGenuine is an independent reading of Standard Webhooks headers.
func standardGenuine(id, ts, sig string, body []byte) bool {
	id, ts, sig = strings.TrimSpace(id), strings.TrimSpace(ts), strings.TrimSpace(sig)
	unix, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil || unix < now.Unix()-300 || unix > now.Unix()+300 {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(fuzzStandardSecret, "whsec_"))
	if err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, entry := range strings.Fields(sig) {
		b64, ok := strings.CutPrefix(entry, "v1,")
		if got, err := base64.StdEncoding.DecodeString(b64); ok && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// fuzzHMACConfig picks one of the twelve algorithm × encoding × prefix
// combinations.
func fuzzHMACConfig(cfg uint8) (alg, enc, prefix string) {
	alg = []string{"sha256", "sha512", "sha1"}[cfg%3]
	enc = []string{"hex", "base64"}[(cfg/3)%2]
	prefix = []string{"", alg + "="}[(cfg/6)%2]
	return alg, enc, prefix
}

func FuzzVerifyHMAC(f *testing.F) {
	body := []byte(`{"id":"ord_1"}`)
	for cfg := range uint8(12) {
		alg, enc, prefix := fuzzHMACConfig(cfg)
		f.Add(cfg, hmacSignature(alg, enc, prefix, fuzzHMACSecret, body), body)
	}
	f.Add(uint8(0), "", body)
	f.Add(uint8(6), "sha256=", body)
	f.Add(uint8(3), "====", []byte{})
	f.Add(uint8(9), "sha256=_-_-", []byte("x"))
	f.Fuzz(func(t *testing.T, cfg uint8, header string, body []byte) {
		alg, enc, prefix := fuzzHMACConfig(cfg)
		v := &sluice.Verification{Type: sluice.VerifyHMAC, Secret: fuzzHMACSecret, Header: "X-Signature", Algorithm: alg, Encoding: enc, Prefix: prefix}
		err := inbound.Verify(v, http.Header{"X-Signature": {header}}, body, now)
		if err == nil && !hmacGenuine(alg, enc, prefix, header, body) {
			t.Fatalf("accepted a header that carries no valid signature")
		}
		if err != nil {
			wantClass(t, err)
		}
		good := hmacSignature(alg, enc, prefix, fuzzHMACSecret, body)
		if err := inbound.Verify(v, http.Header{"X-Signature": {good}}, body, now); err != nil {
			t.Fatalf("crypto/hmac signature rejected: %v", err)
		}
	})
}

// hmacGenuine is an independent reading of a generic HMAC header.
func hmacGenuine(alg, enc, prefix, header string, body []byte) bool {
	sig, ok := strings.CutPrefix(strings.TrimSpace(header), prefix)
	if !ok {
		return false
	}
	m := hmac.New(hashes[alg], []byte(fuzzHMACSecret))
	m.Write(body)
	want := m.Sum(nil)
	if enc == "hex" {
		got, err := hex.DecodeString(sig)
		return err == nil && hmac.Equal(got, want)
	}
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if got, err := e.DecodeString(sig); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func FuzzLookup(f *testing.F) {
	f.Add("type", []byte(`{"type":"invoice.paid"}`))
	f.Add("data.object.lines.1.sku", []byte(`{"data":{"object":{"lines":[{"sku":"a"},{"sku":"b"}]}}}`))
	f.Add("0.n", []byte(`[{"n":1.5e3}]`))
	f.Add("a.b", []byte(`{"a":{"b":true}}`))
	f.Add("a", []byte(`{"a":null}`))
	f.Add("a", []byte(`{"a":1e999}`))
	f.Add("header:x-event", []byte(`not json`))
	f.Add("a..b", []byte(`{"a":{"":{"b":"x"}}}`))
	f.Add("k", []byte(`{"k":"a","k":"b"}`))
	f.Add("form:customer[email]", []byte(`customer%5Bemail%5D=ada%40example.com&customer[email]=second`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		h := http.Header{"X-Event": {"push"}}
		m := inbound.NewMessage(h, body)
		got, ok := m.Lookup(path)
		if again, ok2 := m.Lookup(path); again != got || ok2 != ok {
			t.Fatalf("Lookup(%q) is not stable: %q, %v then %q, %v", path, got, ok, again, ok2)
		}
		_ = inbound.CheckPath(path) // must not panic
		if name, isHeader := strings.CutPrefix(path, "header:"); isHeader {
			want := strings.EqualFold(name, "X-Event")
			if ok != want || (ok && got != "push") {
				t.Fatalf("Lookup(%q) = %q, %v; want found %v", path, got, ok, want)
			}
			return
		}
		if name, isForm := strings.CutPrefix(path, "form:"); isForm {
			checkFormLookup(t, body, name, got, ok)
			return
		}
		if !json.Valid(body) {
			if ok {
				t.Fatalf("Lookup(%q) = %q, true on a body that is not JSON", path, got)
			}
			return
		}
		var root any
		if err := json.Unmarshal(body, &root); err != nil {
			return // valid JSON that float64 cannot hold, such as 1e999
		}
		want, wantOK := referenceLookup(root, path)
		if ok != wantOK {
			t.Fatalf("Lookup(%q) found %v, encoding/json finds %v", path, ok, wantOK)
		}
		if !ok {
			return
		}
		switch w := want.(type) {
		case string:
			if got != w {
				t.Fatalf("Lookup(%q) = %q, encoding/json has %q", path, got, w)
			}
		case float64:
			if f, err := strconv.ParseFloat(got, 64); err != nil || f != w {
				t.Fatalf("Lookup(%q) = %q, encoding/json has %v", path, got, w)
			}
		case bool:
			if got != strconv.FormatBool(w) {
				t.Fatalf("Lookup(%q) = %q, encoding/json has %v", path, got, w)
			}
		}
	})
}

// checkFormLookup fails t unless a form: lookup found what net/url finds,
// where net/url can read the body (it refuses a bad escape anywhere).
func checkFormLookup(t *testing.T, body []byte, name, got string, ok bool) {
	t.Helper()
	if name == "" {
		if ok {
			t.Fatalf("Lookup(form:) = %q, true", got)
		}
		return
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return
	}
	want, wantOK := "", false
	if vs := values[name]; len(vs) > 0 {
		want, wantOK = vs[0], true
	}
	if got != want || ok != wantOK {
		t.Fatalf("Lookup(form:%s) = %q, %v; net/url has %q, %v", name, got, ok, want, wantOK)
	}
}

// referenceLookup walks encoding/json's generic decoding the way a JSON dot
// path is documented to, returning only scalar values.
func referenceLookup(root any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	cur := root
	for _, seg := range strings.Split(path, ".") {
		if seg == "" {
			return nil, false
		}
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			if strings.Trim(seg, "0123456789") != "" {
				return nil, false
			}
			i, err := strconv.Atoi(seg)
			if err != nil || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	switch cur.(type) {
	case string, float64, bool:
		return cur, true
	}
	return nil, false
}
