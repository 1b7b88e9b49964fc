// Package testpayload holds payloads shared by tests and benchmarks, and
// the reference reading of JSON that the scanners are checked against.
package testpayload

import (
	"bytes"
	"encoding/json"
	"io"
)

// Strings returns every string in JSON text, keys included and repeated
// keys all kept, in order, as encoding/json's tokenizer reads them; an
// error if the text is not JSON.
func Strings(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number such as 1e400 is JSON, but no float64
	var out []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if s, ok := tok.(string); ok {
			out = append(out, s)
		}
	}
}

// StripeEvent is a webhook of about 1 KiB shaped like a Stripe event:
// nested objects, an array, numbers, booleans, an escape and an email.
const StripeEvent = `{
  "id": "evt_1PqR2sT3uV4wX5yZ",
  "object": "event",
  "api_version": "2024-06-20",
  "created": 1718900000,
  "data": {
    "object": {
      "id": "in_1PqR2sT3uV4wX5yZabcdef",
      "object": "invoice",
      "amount_due": 4200,
      "amount_paid": 4200,
      "currency": "eur",
      "customer": "cus_Q1r2S3t4U5v6",
      "customer_email": "ada.lovelace@example.com",
      "customer_name": "Ada Lovelace",
      "description": "Subscription renewal \u2014 Pro plan",
      "lines": {
        "data": [
          {"id": "il_1", "amount": 3500, "description": "Pro plan (monthly)", "quantity": 1, "tax_rates": []},
          {"id": "il_2", "amount": 700, "description": "Extra seat", "quantity": 2, "unit_amount_decimal": "350.00"}
        ],
        "has_more": false,
        "total_count": 2
      },
      "paid": true,
      "status": "paid",
      "tax": 0.0,
      "total": 4200
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_Aa1Bb2Cc3Dd4", "idempotency_key": "7f9c2ba4-e88f-4a3c-b1d2-0c4d5e6f7a8b"},
  "type": "invoice.paid"
}`
