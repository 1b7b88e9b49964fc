package signature_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/sluicehq/sluice/internal/signature"
)

func signedHeaders(t *testing.T, secrets []string, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	s, err := signature.NewSigner(secrets...)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	h := http.Header{}
	h.Set(signature.HeaderID, id)
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(signature.HeaderSignature, s.Sign(id, ts, body))
	return h
}

// Our signatures must verify with the reference libraries receivers use.
func TestSignVerifiesWithReferenceLibraries(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"invoice.paid","amount":42}`)
	now := time.Now()
	for _, secrets := range [][]string{
		{signature.NewSecret()},
		{signature.NewSecret(), signature.NewSecret()}, // rotation: either key verifies
	} {
		h := signedHeaders(t, secrets, "evt_1", now, body)
		for _, sec := range secrets {
			sw, err := standardwebhooks.NewWebhook(sec)
			if err != nil {
				t.Fatal(err)
			}
			if err := sw.Verify(body, h); err != nil {
				t.Errorf("standard-webhooks Verify: %v", err)
			}
			sv, err := svix.NewWebhook(sec)
			if err != nil {
				t.Fatal(err)
			}
			if err := sv.Verify(body, h); err != nil {
				t.Errorf("svix Verify: %v", err)
			}
			if err := signature.Verify(sec, h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, now, 5*time.Minute); err != nil {
				t.Errorf("Verify: %v", err)
			}
		}
	}
}

// Signatures from the reference library verify with ours.
func TestVerifyAcceptsReferenceSignatures(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	sw, err := standardwebhooks.NewWebhook(sec)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"a":1}`)
	sig, err := sw.Sign("msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	if err := signature.Verify(sec, "msg_1", ts, sig, body, now, 5*time.Minute); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	sec := signature.NewSecret()
	now := time.Now()
	body := []byte(`{"a":1}`)
	h := signedHeaders(t, []string{sec}, "evt_1", now, body)
	id, ts, sig := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	tests := []struct {
		name                string
		secret, id, ts, sig string
		body                []byte
		now                 time.Time
		want                error
	}{
		{"other secret", signature.NewSecret(), id, ts, sig, body, now, signature.ErrNoMatch},
		{"changed body", sec, id, ts, sig, []byte(`{"a":2}`), now, signature.ErrNoMatch},
		{"changed id", sec, "evt_2", ts, sig, body, now, signature.ErrNoMatch},
		{"stale", sec, id, ts, sig, body, now.Add(6 * time.Minute), signature.ErrStale},
		{"future", sec, id, ts, sig, body, now.Add(-6 * time.Minute), signature.ErrStale},
		{"bad timestamp", sec, id, "soon", sig, body, now, signature.ErrBadTimestamp},
		{"missing signature", sec, id, ts, "", body, now, signature.ErrMissingHeaders},
		{"bad secret", "whsec_!!", id, ts, sig, body, now, signature.ErrBadSecret},
		{"unprefixed secret", "c2VjcmV0", id, ts, sig, body, now, signature.ErrBadSecret},
		{"only v2 entries", sec, id, ts, "v2,abc", body, now, signature.ErrNoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signature.Verify(tt.secret, tt.id, tt.ts, tt.sig, tt.body, tt.now, 5*time.Minute)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	sec := signature.NewSecret()
	f.Add("evt_1", "1700000000", "v1,abc", []byte(`{}`))
	f.Add("", "", "", []byte{})
	f.Add("x", "-1", "v1, v1,=== v2,Zm9v", []byte("body"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		// Must never panic, and never accept a signature not made with the key.
		if err := signature.Verify(sec, id, ts, sig, body, time.Unix(1700000000, 0), 5*time.Minute); err == nil {
			t.Fatalf("Verify accepted a forged signature")
		}
	})
}
