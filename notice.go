package sluice

import (
	"strings"
	"time"
)

// Types of the operational events Sluice publishes about itself. They go
// to the destinations that name them (or "sluice.*"); "*" does not match
// them. Their payloads carry ids and types only, never payload content.
const (
	NoticeDestinationDisabled = "sluice.destination.disabled"
	NoticeDeliveryExhausted   = "sluice.delivery.exhausted"
	NoticeDeliveryRecovered   = "sluice.delivery.recovered"
)

// Anomaly notices: sluice.anomaly.<kind>.
const (
	NoticeAnomalyPrefix = "sluice.anomaly."
	AnomalySchemaDrift  = "schema_drift"
	AnomalyBurst        = "burst"
	AnomalyAuthFailures = "auth_failures"
	// AnomalyLoop: an event came back after passing through MaxHops
	// gateways, and was refused.
	AnomalyLoop = "loop"
	// AnomalyRestrictedField: an event carried a field path, new to its
	// source and type, that its tenant restricts as personal data
	// (RestrictedData). The notice names the paths, never their values.
	AnomalyRestrictedField = "restricted_field"
)

// AnomalyNotice is the payload of sluice.anomaly.* events: ids, types and
// a description of the pattern, never payload content.
type AnomalyNotice struct {
	SourceID  string    `json:"source_id"`
	EventType string    `json:"event_type"`
	Kind      string    `json:"kind"`
	Detail    string    `json:"detail"`
	At        time.Time `json:"at"`
}

// IsNotice reports whether eventType is one of Sluice's operational event
// types. No notice is published about the delivery of a notice, so a
// failing alert destination cannot feed itself.
func IsNotice(eventType string) bool {
	return strings.HasPrefix(eventType, OperationalPrefix)
}

// DeliveryNotice is the payload of sluice.delivery.exhausted and
// sluice.delivery.recovered.
type DeliveryNotice struct {
	EventID       string    `json:"event_id"`
	EventType     string    `json:"event_type"`
	DestinationID string    `json:"destination_id"`
	DeliveryID    string    `json:"delivery_id"`
	Attempts      int       `json:"attempts"`
	At            time.Time `json:"at"`
}

// DestinationNotice is the payload of sluice.destination.disabled.
type DestinationNotice struct {
	DestinationID string    `json:"destination_id"`
	Reason        string    `json:"reason"`
	At            time.Time `json:"at"`
}
