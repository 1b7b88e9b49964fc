package cli

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice"
)

// defaultGatewayURL is where a gateway started with the defaults listens.
const defaultGatewayURL = "http://localhost:8080"

// samplesFS holds the payloads of the built-in sample events, one file per
// event type: <type>.json. None names a real person: addresses are at
// example.com, names and ids are made up.
//
//go:embed samples/*.json
var samplesFS embed.FS

// samples are the events `sluice trigger` can publish, in the order
// --list shows them; each has its payload in samplesFS.
var samples = []struct{ name, about string }{
	{"order.paid", "a shop order paid: order id, amount, line items, the customer's email"},
	{"invoice.paid", "a subscription invoice paid: amounts, period, the customer's email"},
	{"stripe.payment_intent.succeeded", "Stripe-like event: a PaymentIntent succeeded"},
	{"stripe.customer.created", "Stripe-like event: a customer was created"},
	{"github.push", "GitHub-like push: one commit pushed to main"},
}

// samplePayload returns the payload of the named sample; false if there is
// no such sample.
func samplePayload(name string) ([]byte, bool) {
	for _, s := range samples {
		if s.name == name {
			b, err := samplesFS.ReadFile("samples/" + name + ".json")
			return b, err == nil
		}
	}
	return nil, false
}

var triggerCommand = command{
	name: "trigger",
	args: "[flags] TYPE",
	about: `Publishes a built-in sample event of type TYPE to a running gateway, through
POST /v1/events, as your application would; every destination subscribed
to TYPE gets it. It prints the new event's id. --list shows the samples.

The gateway is at --url (or SLUICE_URL), the token is --token (or
SLUICE_ADMIN_TOKEN): the operator token 'sluice serve' printed on its
first start, or any admin key of a tenant. The samples name nobody real:
their addresses are at example.com.`,
	examples: `
sluice trigger --list
export SLUICE_ADMIN_TOKEN=sk_…   # the token sluice serve printed
sluice trigger order.paid
sluice trigger stripe.payment_intent.succeeded --url http://sluice.internal:8080`,
}

// Trigger publishes a built-in sample event to a running gateway and prints
// its id, or with --list prints the samples. A missing or unknown type, a
// bad flag or a missing token is a usage error; an answer other than 2xx
// is an error naming the gateway's reason.
func Trigger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &triggerCommand
	fs := c.flagSet()
	base := fs.String("url", defaultGatewayURL, "the gateway's base `URL` (SLUICE_URL)")
	token := fs.String("token", "", "an admin token of the tenant to publish to (SLUICE_ADMIN_TOKEN)")
	list := fs.Bool("list", false, "list the sample event types and exit")
	rest, err := c.parse(fs, args, stdout)
	if err != nil {
		return err
	}
	if *list {
		if len(rest) > 0 {
			return c.usageErrorf("--list takes no TYPE")
		}
		return listSamples(stdout)
	}
	if err := fromEnv(fs, map[string]string{"url": "SLUICE_URL", "token": "SLUICE_ADMIN_TOKEN"}); err != nil {
		return err
	}
	switch {
	case len(rest) == 0:
		return c.usageErrorf("name a sample event TYPE, such as order.paid (sluice trigger --list shows them all)")
	case len(rest) > 1:
		return c.usageErrorf("name one TYPE, not %d", len(rest))
	}
	payload, ok := samplePayload(rest[0])
	if !ok {
		return c.usageErrorf("no sample event %q (sluice trigger --list shows them all)", rest[0])
	}
	target := strings.TrimRight(*base, "/")
	if !isHTTPURL(target) {
		return c.usageErrorf("--url must be an http or https URL, such as %s", defaultGatewayURL)
	}
	if *token == "" {
		return c.usageErrorf("--token (or SLUICE_ADMIN_TOKEN) is required: the admin token sluice serve printed on its first start")
	}
	id, err := publish(ctx, target, *token, rest[0], payload)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	fmt.Fprintf(stderr, "published %s; see it at %s/ui/events/%s\n", rest[0], target, id)
	return nil
}

func listSamples(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range samples {
		fmt.Fprintf(tw, "%s\t%s\n", s.name, s.about)
	}
	return tw.Flush()
}

// publish posts an event through the API and returns its id.
func publish(ctx context.Context, base, token, eventType string, payload []byte) (string, error) {
	body, err := json.Marshal(struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}{eventType, payload})
	if err != nil {
		return "", fmt.Errorf("encode event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-trigger/"+sluice.Version)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("publish: %w (is sluice serve running at %s? see --url)", err, base)
	}
	defer res.Body.Close()
	var answer struct {
		ID    string `json:"id"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	_ = json.Unmarshal(raw, &answer) // an answer that is not ours is shown as it came
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return "", fmt.Errorf("the gateway answered %s: check --token (or SLUICE_ADMIN_TOKEN)", res.Status)
	case res.StatusCode < 200 || res.StatusCode > 299:
		reason := answer.Error.Message
		if reason == "" {
			reason = string(bytes.TrimSpace(raw))
		}
		return "", fmt.Errorf("the gateway answered %s: %s", res.Status, reason)
	case answer.ID == "":
		return "", fmt.Errorf("the gateway answered %s without an event id: is %s a Sluice gateway?", res.Status, base)
	}
	return answer.ID, nil
}
