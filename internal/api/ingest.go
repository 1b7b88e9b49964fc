package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

// sourceDedupPrefix namespaces provider event ids among a tenant's dedup
// keys, apart from publish idempotency keys; the source id follows it.
const sourceDedupPrefix = "source:"

// maxProviderIDLen is the longest provider event id kept as it is in a
// dedup key; a longer one is hashed.
const maxProviderIDLen = 200

// ingest serves POST /in/{source_id}: a provider's webhook, authenticated by
// its source's verification rule rather than a bearer token. The checks run
// cheapest first: the source (404), the sender's address (403), the rate
// limit (429), the body's size (413), the signature (401). Nothing is stored
// unless every one passes; 202 follows the durable commit.
func (h *Handler) ingest(w http.ResponseWriter, r *http.Request) {
	if err := h.ingestEvent(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) ingestEvent(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	src, err := h.ingestSource(ctx, r.PathValue("source_id"))
	if err == nil && !src.Enabled {
		err = sluice.Errorf(sluice.ENOTFOUND, "source not found")
	}
	if err != nil {
		if sluice.ErrorCode(err) == sluice.ENOTFOUND {
			return sluice.Errorf(sluice.ENOTFOUND, "no such source, or it is disabled")
		}
		return err
	}
	log := h.logger.With(slog.String("source_id", src.ID))
	if len(src.AllowedIPs) > 0 {
		addr := clientAddr(r, h.cfg.TrustedProxies)
		if !slices.ContainsFunc(src.AllowedIPs, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			log.InfoContext(ctx, "ingest refused", slog.String("reason", "ip_not_allowed"))
			return sluice.Errorf(sluice.EFORBIDDEN, "this address may not post to the source")
		}
	}
	now := h.now()
	if src.RateLimitPerSecond > 0 {
		if ok, wait := h.sourceLimits.allow(src.ID, src.RateLimitPerSecond, now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
			return sluice.Errorf(sluice.ERATELIMITED, "the source's rate limit of %d requests a second is reached", src.RateLimitPerSecond)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return decodeError(err)
		}
		return sluice.Errorf(sluice.EINVALID, "body: could not be read")
	}
	if err := inbound.Verify(&src.Verification, r.Header, body, now); err != nil {
		class, text := verifyReason(err)
		log.InfoContext(ctx, "ingest refused", slog.String("reason", class))
		if unclaimed, err := h.store.RecordVerificationFailure(context.WithoutCancel(ctx), src); err != nil {
			log.ErrorContext(ctx, "record verification failure", slog.Any("error", err))
		} else if unclaimed {
			h.cfg.Wake()
		}
		return sluice.Errorf(sluice.EUNAUTHORIZED, "verification failed: %s", text)
	}

	msg := inbound.NewMessage(r.Header, body)
	eventType := inboundType(msg, src)
	hops, err := h.checkHops(ctx, r, src.TenantID, src.ID, eventType)
	if err != nil {
		return err
	}
	ne := &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: src.TenantID, Type: eventType,
			Direction: sluice.Inbound, SourceID: src.ID, ReceivedAt: now},
		Payload: sluice.Payload{Body: body, ContentType: r.Header.Get("Content-Type"),
			Headers: storedHeaders(r.Header, inbound.SignatureHeaders(&src.Verification)), Hops: hops},
		Subjects:     h.detectedSubjects(pathSubjects(src, msg), body, r.Header.Get("Content-Type")),
		SubjectPaths: src.SubjectPaths,
		Storage:      src.PayloadStorage,
		Retention:    src.PayloadRetention,
	}
	if id, ok := msg.Lookup(src.EventIDPath); ok && id != "" {
		ne.DedupKey = dedupKey(src.ID, id)
	}
	created, err := h.createEvent(ctx, ne)
	if err != nil {
		return err
	}
	writeStored(w, "event_id", created)
	return nil
}

// checkHops returns how many gateways the event of request r has passed
// through (sluice.HeaderHops): EINVALID for a malformed count, and ELOOP
// (508) past MaxHops, which is logged and published as
// sluice.anomaly.loop for the tenant. sourceID is "" for a published event.
func (h *Handler) checkHops(ctx context.Context, r *http.Request, tenantID, sourceID, eventType string) (int, error) {
	hops, err := sluice.HopsOf(r.Header)
	if err != nil || hops <= h.cfg.MaxHops {
		return hops, err
	}
	h.logger.WarnContext(ctx, "event refused", slog.String("reason", "loop"), slog.String("tenant_id", tenantID),
		slog.String("source_id", sourceID), slog.Int("hops", hops))
	if unclaimed, err := h.store.RecordLoop(context.WithoutCancel(ctx), tenantID, sourceID, eventType); err != nil {
		h.logger.ErrorContext(ctx, "record loop", slog.Any("error", err))
	} else if unclaimed {
		h.cfg.Wake()
	}
	return 0, sluice.Errorf(sluice.ELOOP,
		"the event has passed through %d gateways (%s), more than the %d allowed: a destination leads back into a gateway",
		hops, sluice.HeaderHops, h.cfg.MaxHops)
}

// inboundType is the event's type found at the source's path, or
// sluice.UnknownEventType when it is missing or could not be a type (a
// provider may not claim Sluice's own "sluice." types either).
func inboundType(msg *inbound.Message, src *sluice.Source) string {
	t, ok := msg.Lookup(src.EventTypePath)
	if !ok || sluice.ValidateEventType(t) != nil {
		return sluice.UnknownEventType
	}
	return t
}

// dedupKey is the key under which a provider's event id is deduplicated:
// per source, hashed when too long to keep as it is.
func dedupKey(sourceID, providerID string) string {
	if len(providerID) > maxProviderIDLen {
		sum := sha256.Sum256([]byte(providerID))
		providerID = "sha256:" + hex.EncodeToString(sum[:])
	}
	return sourceDedupPrefix + sourceID + ":" + providerID
}

// storedHeaders keeps the headers worth keeping for debugging and replay:
// the content type, the user agent and the provider's own X-, webhook- and
// svix- headers, less every header that carries a signature, a credential
// or the sender's address.
func storedHeaders(h http.Header, signatureHeaders []string) http.Header {
	out := http.Header{}
	for name, values := range h {
		name = http.CanonicalHeaderKey(name)
		if !keepHeader(name) || slices.ContainsFunc(signatureHeaders, func(s string) bool {
			return http.CanonicalHeaderKey(s) == name
		}) {
			continue
		}
		out[name] = slices.Clone(values)
	}
	return out
}

func keepHeader(name string) bool {
	switch name {
	case "Content-Type", "User-Agent":
		return true
	case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
		"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Client-Ip":
		return false
	}
	lower := strings.ToLower(name)
	return strings.HasPrefix(lower, "x-") || strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "svix-")
}

// verifyReasons are the classes a verification failure falls into.
var verifyReasons = []struct {
	err   error
	class string
}{
	{inbound.ErrMissing, "missing"},
	{inbound.ErrMalformed, "malformed"},
	{inbound.ErrStale, "stale"},
	{inbound.ErrMismatch, "mismatch"},
}

// verifyReason returns why verification failed: the class for the log and
// the class's own text for the sender, neither holding a header value or a
// secret.
func verifyReason(err error) (class, text string) {
	for _, r := range verifyReasons {
		if errors.Is(err, r.err) {
			return r.class, r.err.Error()
		}
	}
	return "other", "the request does not verify"
}

// ingestSource returns the source of an ingest request, from the cache if
// it was used within the last second.
func (h *Handler) ingestSource(ctx context.Context, id string) (*sluice.Source, error) {
	now := h.now()
	if src, ok := h.sources.get(id, now); ok {
		return src, nil
	}
	src, err := h.store.IngestSource(ctx, id)
	if err != nil {
		return nil, err
	}
	h.sources.put(id, src, now)
	return src, nil
}
