// Package testpayload holds payloads shared by tests and benchmarks.
package testpayload

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
