package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/webhook"
)

// signer makes signatures with a reference library.
type signer func(t *testing.T, secret, id string, ts time.Time, body []byte) string

func svixSign(t *testing.T, secret, id string, ts time.Time, body []byte) string {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func standardSign(t *testing.T, secret, id string, ts time.Time, body []byte) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

var signers = map[string]signer{"svix": svixSign, "standard-webhooks": standardSign}

// headersFor returns the three headers of a message, in the webhook-*
// spelling, whose signature header is sigs joined by spaces.
func headersFor(id string, ts time.Time, sigs ...string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return h
}

func TestVerifyAcceptsReferenceSignatures(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"invoice.paid","amount":4200}`)
	now := time.Now()
	for name, sign := range signers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sec := signature.NewSecret()
			h := headersFor("evt_1", now, sign(t, sec, "evt_1", now, body))
			if err := webhook.Verify(sec, h, body); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			v := webhook.Verifier{Secrets: []string{sec}}
			msg, err := v.Verify(h, body)
			if err != nil {
				t.Fatalf("Verifier.Verify: %v", err)
			}
			if got, want := msg, (webhook.Message{ID: "evt_1", Timestamp: time.Unix(now.Unix(), 0)}); got != want {
				t.Fatalf("message = %+v, want %+v", got, want)
			}
		})
	}
}

// The Standard Webhooks specification's published example.
func TestVerifySpecificationExample(t *testing.T) {
	t.Parallel()
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	h := headersFor("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	v := webhook.Verifier{Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Now: func() time.Time { return ts }}
	if _, err := v.Verify(h, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// A secret given without its prefix is the same key.
	v.Secrets = []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	if _, err := v.Verify(h, body); err != nil {
		t.Fatalf("Verify without whsec_: %v", err)
	}
}

// During a rotation the sender signs with the old and the new secret: a
// receiver knowing either, or both, accepts; one knowing neither does not.
func TestVerifyRotation(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	now := time.Now()
	oldSec, newSec, otherSec := signature.NewSecret(), signature.NewSecret(), signature.NewSecret()
	// One signature from each library, so the two agree on the format too.
	h := headersFor("evt_rot", now,
		svixSign(t, newSec, "evt_rot", now, body),
		standardSign(t, oldSec, "evt_rot", now, body))
	for _, secrets := range [][]string{{oldSec}, {newSec}, {newSec, oldSec}, {otherSec, oldSec}, {otherSec, newSec}} {
		v := webhook.Verifier{Secrets: secrets}
		if _, err := v.Verify(h, body); err != nil {
			t.Errorf("Verify with %d secrets: %v", len(secrets), err)
		}
	}
	v := webhook.Verifier{Secrets: []string{otherSec}}
	if _, err := v.Verify(h, body); !errors.Is(err, webhook.ErrNoMatch) {
		t.Fatalf("Verify with an unrelated secret = %v, want ErrNoMatch", err)
	}
	// Sluice's own signer, rotating, agrees.
	s, err := signature.NewSigner(newSec, oldSec)
	if err != nil {
		t.Fatal(err)
	}
	h = headersFor("evt_rot", now, s.Sign("evt_rot", now, body))
	for _, sec := range []string{oldSec, newSec} {
		if err := webhook.Verify(sec, h, body); err != nil {
			t.Errorf("Verify of Sluice's signature: %v", err)
		}
	}
}

// svix-* headers verify as webhook-* ones do, and the reference libraries
// accept what this package accepts.
func TestVerifySvixHeaders(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	body := []byte(`{"a":1}`)
	now := time.Now()
	h := http.Header{}
	h.Set("svix-id", "msg_1")
	h.Set("svix-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("svix-signature", svixSign(t, sec, "msg_1", now, body))
	if err := webhook.Verify(sec, h, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	wh, err := svix.NewWebhook(sec)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, h); err != nil {
		t.Fatalf("svix Verify: %v", err)
	}
	// A webhook-* set missing a header falls back to the svix-* set.
	h.Set("webhook-id", "msg_other")
	if err := webhook.Verify(sec, h, body); err != nil {
		t.Fatalf("Verify with a partial webhook-* set: %v", err)
	}
}

// Signature entries split over several header lines count together.
func TestVerifySignatureOverSeveralLines(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	body := []byte(`{}`)
	now := time.Now()
	h := headersFor("evt_1", now, "v1,bm90IGl0")
	h.Add("webhook-signature", standardSign(t, sec, "evt_1", now, body))
	if err := webhook.Verify(sec, h, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	sig := svixSign(t, sec, "evt_1", now, body)
	ts := strconv.FormatInt(now.Unix(), 10)
	with := func(name, value string) http.Header {
		h := headersFor("evt_1", now, sig)
		h.Set(name, value)
		return h
	}
	tests := []struct {
		name    string
		secrets []string
		h       http.Header
		body    []byte
		now     time.Time
		want    error
	}{
		{"tampered body", []string{sec}, headersFor("evt_1", now, sig), []byte(`{"a":2}`), now, webhook.ErrNoMatch},
		{"wrong secret", []string{signature.NewSecret()}, headersFor("evt_1", now, sig), body, now, webhook.ErrNoMatch},
		{"changed id", []string{sec}, with("webhook-id", "evt_2"), body, now, webhook.ErrNoMatch},
		{"changed timestamp", []string{sec}, with("webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10)), body, now, webhook.ErrNoMatch},
		{"only v2 entries", []string{sec}, with("webhook-signature", "v2"+sig[2:]), body, now, webhook.ErrNoMatch},
		{"signature not base64", []string{sec}, with("webhook-signature", "v1,@@@@"), body, now, webhook.ErrNoMatch},
		{"truncated signature", []string{sec}, with("webhook-signature", sig[:20]), body, now, webhook.ErrNoMatch},
		{"stale", []string{sec}, headersFor("evt_1", now, sig), body, now.Add(5*time.Minute + time.Second), webhook.ErrTooOld},
		{"future", []string{sec}, headersFor("evt_1", now, sig), body, now.Add(-5*time.Minute - time.Second), webhook.ErrTooNew},
		{"timestamp in words", []string{sec}, with("webhook-timestamp", "soon"), body, now, webhook.ErrBadTimestamp},
		{"timestamp overflowing int64", []string{sec}, with("webhook-timestamp", "99999999999999999999"), body, now, webhook.ErrBadTimestamp},
		{"timestamp with sign", []string{sec}, with("webhook-timestamp", "+"+ts), body, now, webhook.ErrBadTimestamp},
		{"timestamp with leading zero", []string{sec}, with("webhook-timestamp", "0"+ts), body, now, webhook.ErrBadTimestamp},
		{"negative timestamp", []string{sec}, with("webhook-timestamp", "-"+ts), body, now, webhook.ErrBadTimestamp},
		{"no id", []string{sec}, with("webhook-id", ""), body, now, webhook.ErrMissingHeaders},
		{"no timestamp", []string{sec}, with("webhook-timestamp", ""), body, now, webhook.ErrMissingHeaders},
		{"no signature", []string{sec}, with("webhook-signature", ""), body, now, webhook.ErrMissingHeaders},
		{"blank signature", []string{sec}, with("webhook-signature", "  "), body, now, webhook.ErrMissingHeaders},
		{"no headers", []string{sec}, http.Header{}, body, now, webhook.ErrMissingHeaders},
		{"no secret", nil, headersFor("evt_1", now, sig), body, now, webhook.ErrBadSecret},
		{"secret not base64", []string{"whsec_!!!!"}, headersFor("evt_1", now, sig), body, now, webhook.ErrBadSecret},
		{"secret too short", []string{"whsec_c2hvcnQ="}, headersFor("evt_1", now, sig), body, now, webhook.ErrBadSecret},
		{"one bad secret among good", []string{sec, "whsec_"}, headersFor("evt_1", now, sig), body, now, webhook.ErrBadSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := webhook.Verifier{Secrets: tt.secrets, Now: func() time.Time { return tt.now }}
			msg, err := v.Verify(tt.h, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if msg != (webhook.Message{}) {
				t.Errorf("Verify returned message %+v along with an error", msg)
			}
			for _, secret := range append([]string{sec}, tt.secrets...) {
				if raw := strings.TrimPrefix(secret, "whsec_"); raw != "" && strings.Contains(err.Error(), raw) {
					t.Errorf("error %q shows a secret", err)
				}
			}
			if strings.Contains(err.Error(), sig[3:]) {
				t.Errorf("error %q shows the signature", err)
			}
		})
	}
}

// The tolerance is inclusive, either way, and can be changed.
func TestVerifyTolerance(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	signed := time.Unix(1_800_000_000, 0)
	body := []byte(`{}`)
	h := headersFor("evt_1", signed, standardSign(t, sec, "evt_1", signed, body))
	tests := []struct {
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{0, signed.Add(webhook.DefaultTolerance), nil},
		{0, signed.Add(-webhook.DefaultTolerance), nil},
		{0, signed.Add(webhook.DefaultTolerance + time.Nanosecond), webhook.ErrTooOld},
		{0, signed.Add(-webhook.DefaultTolerance - time.Nanosecond), webhook.ErrTooNew},
		{time.Minute, signed.Add(61 * time.Second), webhook.ErrTooOld},
		{time.Minute, signed.Add(-61 * time.Second), webhook.ErrTooNew},
		{time.Hour, signed.Add(59 * time.Minute), nil},
	}
	for _, tt := range tests {
		v := webhook.Verifier{Secrets: []string{sec}, Tolerance: tt.tolerance, Now: func() time.Time { return tt.now }}
		if _, err := v.Verify(h, body); !errors.Is(err, tt.want) {
			t.Errorf("tolerance %v, now signed%+v: Verify = %v, want %v", tt.tolerance, tt.now.Sub(signed), err, tt.want)
		}
	}
}

func TestNewVerifier(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	v, err := webhook.NewVerifier(sec)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if len(v.Secrets) != 1 || v.Secrets[0] != sec {
		t.Fatalf("Secrets = %d entries, want the one given", len(v.Secrets))
	}
	_, err = webhook.NewVerifier(sec, "whsec_bm9wZQ==")
	if !errors.Is(err, webhook.ErrBadSecret) {
		t.Fatalf("NewVerifier with a short secret = %v, want ErrBadSecret", err)
	}
	if !strings.Contains(err.Error(), "secret 2 of 2") {
		t.Errorf("error %q does not say which secret", err)
	}
	if _, err := webhook.NewVerifier(); !errors.Is(err, webhook.ErrBadSecret) {
		t.Fatalf("NewVerifier() = %v, want ErrBadSecret", err)
	}
}
