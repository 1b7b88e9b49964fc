package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// cleanupTimeout bounds deleting what a run created, which happens even
// when the run was cancelled.
const cleanupTimeout = 10 * time.Second

// gateway is the gateway under test with what Run created on it.
type gateway struct {
	api           *client
	work          *workload
	destinationID string
	sourceID      string // ingest only
}

// setUpGateway creates the bench destination, pointing at the receiver and
// subscribed to the run's own event type, and for the ingest scenario a
// Stripe source with a fresh secret. It does this before the baseline runs
// so that a wrong token or URL fails at once. Their names and the event
// type carry a tag of the run's, so runs at once against one gateway, or
// against gateways sharing a database, keep apart.
func setUpGateway(ctx context.Context, o Options, receiverURL string) (*gateway, error) {
	gw := &gateway{api: newClient(o.URL, o.Token, o.connections())}
	tag := strings.ToLower(rand.Text()[:8])
	name, eventType := "bench-"+tag, runEventType(tag)
	var err error
	gw.destinationID, err = gw.api.create(ctx, "/v1/destinations",
		map[string]any{"name": name, "url": receiverURL, "event_types": []string{eventType}})
	if err != nil {
		gw.api.close()
		var hint string
		if he, ok := errors.AsType[*httpError](err); ok && he.status == http.StatusBadRequest {
			hint = " (the gateway must allow private destinations: --allow-private-destinations)"
		}
		return nil, fmt.Errorf("create destination: %w%s", err, hint)
	}
	if o.Scenario != ScenarioIngest {
		gw.work = newPublishWorkload(o.Token, eventType, o.PayloadBytes)
		return gw, nil
	}
	v := &sluice.Verification{Type: sluice.VerifyStripe, Secret: "whsec_" + rand.Text()}
	gw.sourceID, err = gw.api.create(ctx, "/v1/sources",
		map[string]any{"name": name, "verification": map[string]string{"type": v.Type, "secret": v.Secret}})
	if err != nil {
		gw.tearDown(ctx, io.Discard)
		return nil, fmt.Errorf("create source: %w", err)
	}
	gw.work = newIngestWorkload(gw.sourceID, v, eventType, o.PayloadBytes)
	return gw, nil
}

// tearDown deletes the source and the destination, even when ctx was
// cancelled, and says on w what it could not delete.
func (gw *gateway) tearDown(ctx context.Context, w io.Writer) {
	defer gw.api.close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var paths []string
	if gw.sourceID != "" {
		paths = append(paths, "/v1/sources/"+gw.sourceID)
	}
	paths = append(paths, "/v1/destinations/"+gw.destinationID)
	for _, path := range paths {
		if err := gw.api.remove(ctx, path); err != nil && w != nil {
			fmt.Fprintf(w, "could not delete the bench resource %s: %v\n", path, err)
		}
	}
}
