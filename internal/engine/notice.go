package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
)

// Every operational notice is made here: sluice.delivery.exhausted and
// sluice.delivery.recovered by RecordAttempts, sluice.destination.disabled
// when an attempt disables its destination, and sluice.anomaly.* for a
// schema drift or a burst (CreateEvent) and for verification failures
// (RecordVerificationFailure), and sluice.test (SendTestEvent). Their
// payloads carry ids and types only.

// newNotice returns an operational event of eventType for the tenant,
// published at at, whose JSON payload is kept for the notice retention.
func (s *Store) newNotice(tenantID, eventType string, payload any, at time.Time) (*sluice.NewEvent, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s notice: %w", eventType, err)
	}
	return &sluice.NewEvent{
		Event: sluice.Event{
			ID:         sluice.NewID(sluice.PrefixEvent),
			TenantID:   tenantID,
			Type:       eventType,
			Direction:  sluice.Outbound,
			ReceivedAt: at,
		},
		Payload: sluice.Payload{Body: body, ContentType: "application/json", ExpiresAt: at.Add(s.retention)},
		// A notice names no one, and may be delivered by any process.
		Storage: sluice.StorageRetain,
	}, nil
}

// deliveryNotice returns the notice an attempt's result calls for:
// sluice.delivery.exhausted when its delivery ends failed, and
// sluice.delivery.recovered when a delivery re-sending an exhausted one
// succeeds; nil for none. Deliveries of notices announce nothing, so a
// failing alert destination cannot feed itself.
func (s *Store) deliveryNotice(r *sluice.AttemptResult) (*sluice.NewEvent, error) {
	var eventType string
	switch {
	case sluice.IsNotice(r.EventType):
		return nil, nil
	case r.Status == sluice.DeliveryExhausted:
		eventType = sluice.NoticeDeliveryExhausted
	case r.Status == sluice.DeliverySucceeded && r.Recovers:
		eventType = sluice.NoticeDeliveryRecovered
	default:
		return nil, nil
	}
	a := &r.Attempt
	at := a.At.Add(a.Duration).UTC()
	return s.newNotice(a.TenantID, eventType, sluice.DeliveryNotice{EventID: a.EventID, EventType: r.EventType,
		DestinationID: a.DestinationID, DeliveryID: a.DeliveryID, Attempts: a.Number, At: at}, at)
}

// disabledNotice returns sluice.destination.disabled for an attempt that
// disables its destination with the reason.
func (s *Store) disabledNotice(r *sluice.AttemptResult, reason string) (*sluice.NewEvent, error) {
	a := &r.Attempt
	at := a.At.Add(a.Duration).UTC()
	return s.newNotice(a.TenantID, sluice.NoticeDestinationDisabled,
		sluice.DestinationNotice{DestinationID: a.DestinationID, Reason: reason, At: at}, at)
}

// RecordVerificationFailure counts a request to the source that failed
// its verification and publishes sluice.anomaly.auth_failures when they
// pile up. It reports whether that made deliveries due.
func (s *Store) RecordVerificationFailure(ctx context.Context, src *sluice.Source) (bool, error) {
	alert, detail := s.anomalies.AuthFailure(src.TenantID, src.ID, s.now())
	if !alert {
		return false, nil
	}
	return s.publishAnomaly(ctx, src.TenantID, sluice.AnomalyNotice{SourceID: src.ID,
		Kind: sluice.AnomalyAuthFailures, Detail: detail}), nil
}

// RecordLoop notes an event refused as a loop and publishes
// sluice.anomaly.loop, at most once a cooldown per source. It reports
// whether that made deliveries due.
func (s *Store) RecordLoop(ctx context.Context, tenantID, sourceID, eventType string) (bool, error) {
	if !s.anomalies.Loop(tenantID, sourceID, s.now()) {
		return false, nil
	}
	return s.publishAnomaly(ctx, tenantID, sluice.AnomalyNotice{SourceID: sourceID, EventType: eventType,
		Kind: sluice.AnomalyLoop, Detail: "an event came back after passing through too many gateways"}), nil
}

// publishAnomaly stores an operational sluice.anomaly.* event and reports
// whether it made deliveries due. A failure is logged, not returned: what
// caused it is stored already.
func (s *Store) publishAnomaly(ctx context.Context, tenantID string, a sluice.AnomalyNotice) bool {
	a.At = s.now()
	unclaimed, eventID, err := s.publish(context.WithoutCancel(ctx), tenantID, sluice.NoticeAnomalyPrefix+a.Kind, a)
	if err != nil {
		s.logger.Error("publish anomaly", slog.String("kind", a.Kind), slog.String("source_id", a.SourceID), slog.Any("error", err))
		return false
	}
	s.logger.Info("anomaly", slog.String("kind", a.Kind), slog.String("source_id", a.SourceID), slog.String("event_id", eventID))
	return unclaimed
}

// publish stores a notice in a transaction of its own, due at once.
func (s *Store) publish(ctx context.Context, tenantID, eventType string, payload any) (unclaimed bool, eventID string, err error) {
	ne, err := s.newNotice(tenantID, eventType, payload, s.now())
	if err != nil {
		return false, "", err
	}
	se, err := s.sealEvent(ctx, ne, false)
	if err != nil {
		return false, "", err
	}
	err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		unclaimed, err = s.insertEvent(ctx, tx, se, 0)
		return err
	})
	return unclaimed, ne.Event.ID, err
}
