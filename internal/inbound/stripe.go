package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const stripeHeader = "Stripe-Signature"

// verifyStripe checks "Stripe-Signature: t=<unix>,v1=<hex>[,v1=…][,v0=…]":
// HMAC-SHA256 of t + "." + body, keyed with the whole secret string
// ("whsec_…" included, as Stripe does). Any v1 entry may match, since Stripe
// signs with both secrets while one is being rolled; v0 and unknown entries
// are ignored, like stripe-go does.
func verifyStripe(secret string, h http.Header, body []byte, now time.Time) error {
	if secret == "" {
		return misconfigured("empty secret")
	}
	header := headerValue(h, stripeHeader)
	if header == "" {
		return ErrMissing
	}
	ts, sigs, err := parseStripeHeader(header)
	if err != nil {
		return err
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMalformed
	}
	if outside(now, unix) {
		return ErrStale
	}
	want := stripeMAC(secret, ts, body)
	ok := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		// Keep looking after a match so the time taken does not tell which
		// entry matched.
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrMismatch
	}
	return nil
}

// parseStripeHeader returns the one t value (ASCII digits only, so that the
// signed text is the number Stripe formatted) and every v1 value.
func parseStripeHeader(header string) (ts string, v1 []string, err error) {
	for pair := range strings.SplitSeq(header, ",") {
		key, val, found := strings.Cut(strings.TrimSpace(pair), "=")
		if !found {
			return "", nil, ErrMalformed
		}
		switch key {
		case "t":
			if ts != "" || !allDigits(val) {
				return "", nil, ErrMalformed
			}
			ts = val
		case "v1":
			v1 = append(v1, val)
		}
	}
	if ts == "" || len(v1) == 0 {
		return "", nil, ErrMalformed
	}
	return ts, v1, nil
}

func stripeMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func signStripe(h http.Header, secret string, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(stripeHeader, "t="+ts+",v1="+hex.EncodeToString(stripeMAC(secret, ts, body)))
}

// outside reports whether unix seconds lie more than Tolerance from now.
func outside(now time.Time, unix int64) bool {
	d := now.Sub(time.Unix(unix, 0))
	return d > Tolerance || d < -Tolerance
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
