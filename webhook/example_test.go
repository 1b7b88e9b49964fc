package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/webhook"
)

// exampleSecret is the secret of the Standard Webhooks specification's
// example; a destination's real one comes from Sluice's API.
const exampleSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Verify in a plain handler, with the destination's secret from the
// environment.
func ExampleVerify() {
	http.HandleFunc("POST /hooks/sluice", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(os.Getenv("SLUICE_WEBHOOK_SECRET"), r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// The body is authentic: act on it, then answer 2xx.
		w.WriteHeader(http.StatusNoContent)
	})
}

// The Standard Webhooks specification's example message, checked at the
// time it was signed.
func ExampleVerifier_Verify() {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)

	v := webhook.Verifier{
		Secrets: []string{exampleSecret},
		Now:     func() time.Time { return time.Unix(1614265330, 0) },
	}
	msg, err := v.Verify(h, body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(msg.ID, msg.Timestamp.UTC().Format(time.RFC3339))
	// Output: msg_p5jXN8AQM9LWM0D4loKWxJek 2021-02-25T15:02:10Z
}

// Errors say why a message was refused; errors.Is tells them apart.
func ExampleVerify_errors() {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)

	// Signed in 2021: a replay today.
	err := webhook.Verify(exampleSecret, h, body)
	fmt.Println(errors.Is(err, webhook.ErrTooOld), err)

	// At the time, but with the body changed.
	v := webhook.Verifier{Secrets: []string{exampleSecret}, Now: func() time.Time { return time.Unix(1614265330, 0) }}
	_, err = v.Verify(h, []byte(`{"test": 1}`))
	fmt.Println(errors.Is(err, webhook.ErrNoMatch), err)

	_, err = v.Verify(http.Header{}, body)
	fmt.Println(errors.Is(err, webhook.ErrMissingHeaders))
	// Output:
	// true webhook: timestamp too old
	// true webhook: no signature matches
	// true
}

// During a secret rotation, list the new secret and the old one: Sluice
// signs with both while the grace period lasts, and after it with the new
// one alone.
func ExampleVerifier_rotation() {
	oldSecret := exampleSecret
	newSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a new key of at least 24 bytes"))
	v, err := webhook.NewVerifier(newSecret, oldSecret)
	if err != nil {
		log.Fatal(err) // a malformed secret: fail at start, not on each request
	}
	now := time.Now()
	body := []byte(`{"type":"invoice.paid"}`)
	for _, signers := range [][]string{{oldSecret}, {newSecret, oldSecret}, {newSecret}} {
		_, err := v.Verify(signedHeaders(signers, "evt_1", now, body), body)
		fmt.Println(len(signers), "signature(s):", err == nil)
	}
	// Output:
	// 1 signature(s): true
	// 2 signature(s): true
	// 1 signature(s): true
}

// Handler verifies, drops duplicates by webhook-id and passes the rest on
// with the message in the request's context.
func ExampleVerifier_Handler() {
	v := &webhook.Verifier{Secrets: []string{exampleSecret}}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg, _ := webhook.MessageFrom(r.Context())
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("handling %s: %s\n", msg.ID, body)
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(v.Handler(app, webhook.HandlerOptions{
		OnError: func(r *http.Request, err error) { fmt.Println("refused:", err) },
	}))
	defer srv.Close()

	post := func(h http.Header, body string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	body := `{"type":"invoice.paid"}`
	post(signedHeaders([]string{exampleSecret}, "evt_1", time.Now(), []byte(body)), body)
	// The sender did not hear the answer and tries again, signed afresh.
	post(signedHeaders([]string{exampleSecret}, "evt_1", time.Now(), []byte(body)), body)
	// Someone without the secret.
	post(http.Header{"Webhook-Id": {"evt_2"}}, body)
	// Output:
	// handling evt_1: {"type":"invoice.paid"}
	// 204 No Content
	// 200 OK
	// refused: webhook: webhook-id, webhook-timestamp or webhook-signature header missing
	// 401 Unauthorized
}

// signedHeaders signs as Sluice does: the HMAC-SHA256 of
// "id.timestamp.body" under each secret's key, base64, after "v1,".
func signedHeaders(secrets []string, id string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	var sigs []string
	for _, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			log.Fatal(err)
		}
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return h
}
