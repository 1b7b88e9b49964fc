package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/sluicehq/sluice/webhook"
)

// fuzzSecret is fixed so that the corpus means the same on every run.
const fuzzSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// FuzzVerify feeds Verify arbitrary headers. Without the key nothing may
// verify; with a real signature added among arbitrary entries, the
// message must verify exactly when its id is present and its timestamp
// within the tolerance.
func FuzzVerify(f *testing.F) {
	f.Add("evt_1", "1800000000", "v1,abc", []byte(`{}`), int64(0))
	f.Add("", "", "", []byte{}, int64(0))
	f.Add("x", "-1", "v1, v1,=== v2,Zm9v", []byte("body"), int64(-301))
	f.Add("msg_1", "01800000000", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`), int64(300))
	now := time.Unix(1_800_000_000, 0)
	v := webhook.Verifier{Secrets: []string{fuzzSecret}, Now: func() time.Time { return now }}
	wh, err := svix.NewWebhook(fuzzSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte, offset int64) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sigs)
		if msg, err := v.Verify(h, body); err == nil {
			t.Fatalf("Verify accepted a message not signed with the key: %+v", msg)
		}

		offset %= 1_000_000_000 // keep the timestamp a plausible unix time
		signed := now.Add(time.Duration(offset) * time.Second)
		sig, err := wh.Sign(id, signed, body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set("webhook-timestamp", strconv.FormatInt(signed.Unix(), 10))
		h.Set("webhook-signature", sigs+" "+sig)
		var want error
		switch {
		case id == "":
			want = webhook.ErrMissingHeaders
		case offset < -300:
			want = webhook.ErrTooOld
		case offset > 300:
			want = webhook.ErrTooNew
		}
		msg, err := v.Verify(h, body)
		if !errors.Is(err, want) {
			t.Fatalf("Verify of a signed message (offset %ds) = %v, want %v", offset, err, want)
		}
		if err == nil && (msg.ID != id || !msg.Timestamp.Equal(signed)) {
			t.Fatalf("Verify returned %+v, want id %q at %v", msg, id, signed)
		}
	})
}
