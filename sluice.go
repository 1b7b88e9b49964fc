// Package sluice holds Sluice's domain: the types every other package shares,
// the Store interface the storage packages implement, and the one error type
// whose codes the API maps to HTTP statuses.
//
// It imports only the standard library. Storage lives in internal/sqlite (and
// later internal/postgres), HTTP in internal/api, delivery in internal/deliver.
package sluice

// Version is the release of this build, reported by `sluice version` and in
// the user-agent of every delivery. Release builds override it with
// -ldflags "-X github.com/sluicehq/sluice.Version=…".
var Version = "0.1.0-dev"

// UserAgent is the user-agent header sent with every delivery.
func UserAgent() string { return "Sluice/" + Version }

// HeaderEventType carries the event's type on every delivery, so that a
// receiver can route a payload that does not say what it is (the body is
// the payload as published or received, not wrapped in an envelope).
const HeaderEventType = "Sluice-Event-Type"
