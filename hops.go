package sluice

import (
	"net/http"
	"strconv"
)

// HeaderHops counts the Sluice gateways an event has passed through. Every
// delivery carries it, one more than the event arrived with, and ingest
// and publish read it: a destination that leads back into a gateway, itself
// or another, makes a loop that ends after MaxHops passes instead of
// multiplying events for ever.
const HeaderHops = "Sluice-Hops"

// DefaultMaxHops is how many gateways an event may have passed through
// before one refuses it.
const DefaultMaxHops = 3

// maxHopsValue bounds the header's value, so a parsed count never
// overflows when a delivery adds one.
const maxHopsValue = 1 << 20

// HopsOf returns the count an incoming request's Sluice-Hops header gives:
// 0 when the header is absent. A value that is not a whole number from 0
// up is an EINVALID *Error.
func HopsOf(h http.Header) (int, error) {
	v := h.Get(HeaderHops)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxHopsValue || v[0] == '+' {
		return 0, Errorf(EINVALID, "%s: must be a whole number of gateways passed through", HeaderHops)
	}
	return n, nil
}
