package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
)

// Defaults of `sluice listen`.
const (
	defaultForwardWait   = 10 * time.Second
	listenClaimWait      = 30 * time.Second
	listenClaimLimit     = 10
	listenCallTimeout    = 30 * time.Second
	listenMaxBackoff     = 30 * time.Second
	maxForwardedResponse = 64 << 10
)

var listenCommand = command{
	name: "listen",
	args: "--forward-to URL [flags]",
	about: `Forwards a running gateway's deliveries to a URL on this machine, for
building and debugging a webhook receiver before it has a public address.

It creates a temporary listen destination on the gateway at --url (or
SLUICE_URL) in the tenant of --token (or SLUICE_TOKEN, else
SLUICE_ADMIN_TOKEN), with the event types of --events and the sources of
--source, and prints its signing secret. It then claims the destination's
deliveries over the connection it opened (nothing connects to this
machine, and the gateway needs no exception for private addresses),
POSTs each to --forward-to exactly as the gateway would have sent it,
signed, and prints one line per attempt: the time, the event, its type,
the answer and the latency, never the body. Each attempt is recorded on
the gateway, and a failure retried on its schedule.

Ctrl-C deletes the temporary destination and exits 0. One left behind (the
command was killed) is deleted by the gateway within minutes.`,
	examples: `
export SLUICE_TOKEN=sk_…   # the token sluice serve printed
sluice listen --forward-to http://localhost:3000/hooks
sluice listen --forward-to http://localhost:3000/hooks --events 'order.*,invoice.paid'
sluice listen --url https://sluice.example.com --forward-to http://localhost:3000/hooks --secret whsec_…`,
}

// Listen forwards a running gateway's deliveries to a local URL (see
// listenCommand) until ctx ends (Ctrl-C), then deletes its temporary
// destination and returns nil. A bad flag, or a missing --forward-to or
// token, is a usage error; a gateway that refuses the token or cannot be
// reached at the start is an error.
func Listen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &listenCommand
	fs := c.flagSet()
	var (
		in                  listenRequest
		base, token, target string
		events, sources     listFlag
		timeout             time.Duration
	)
	fs.StringVar(&base, "url", defaultGatewayURL, "the gateway's base `URL` (SLUICE_URL)")
	fs.StringVar(&token, "token", "", "an admin token of the tenant to listen in (SLUICE_TOKEN, else SLUICE_ADMIN_TOKEN)")
	fs.StringVar(&target, "forward-to", "", "the local `URL` to POST deliveries to (required)")
	fs.Var(&events, "events", "event type `patterns` to receive, comma separated or repeated (default *)")
	fs.Var(&sources, "source", "only events from these source `ids`, comma separated or repeated")
	fs.StringVar(&in.Name, "name", "", "the temporary destination's name (default: sluice listen and its id)")
	fs.StringVar(&in.Secret, "secret", "", "the signing `secret` (whsec_…) to sign with, to keep one across runs (default: a new one)")
	fs.DurationVar(&timeout, "timeout", defaultForwardWait, "how long a forwarded delivery waits for its answer; keep it under the gateway's --delivery-lease")
	rest, err := c.parse(fs, args, stdout)
	if err != nil {
		return err
	}
	if err := fromEnv(fs, map[string]string{"url": "SLUICE_URL", "token": "SLUICE_TOKEN"}); err != nil {
		return err
	}
	if err := fromEnv(fs, map[string]string{"token": "SLUICE_ADMIN_TOKEN"}); err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return c.usageErrorf("unexpected argument %q", rest[0])
	case target == "":
		return c.usageErrorf("--forward-to is required: the local URL to POST deliveries to")
	case !isHTTPURL(target):
		return c.usageErrorf("--forward-to must be an http or https URL, such as http://localhost:3000/hooks")
	case !isHTTPURL(base):
		return c.usageErrorf("--url must be an http or https URL, such as %s", defaultGatewayURL)
	case token == "":
		return c.usageErrorf("--token (or SLUICE_TOKEN) is required: an admin token of the tenant to listen in")
	case timeout <= 0:
		return c.usageErrorf("--timeout must be positive")
	}
	in.EventTypes, in.SourceIDs = []string(events), []string(sources)
	if len(in.EventTypes) == 0 {
		in.EventTypes = []string{"*"}
	}
	l := &listener{
		api:     &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{}},
		target:  target,
		timeout: timeout,
		forward: newForwardClient(),
		stdout:  stdout,
		stderr:  stderr,
	}
	return l.run(ctx, in)
}

// listenRequest is the body of POST /v1/listen.
type listenRequest struct {
	Name       string   `json:"name,omitempty"`
	EventTypes []string `json:"event_types"`
	SourceIDs  []string `json:"source_ids,omitempty"`
	Secret     string   `json:"secret,omitempty"`
}

// listenDelivery is a claimed delivery as POST /v1/listen/{id}/claim
// returns it.
type listenDelivery struct {
	DeliveryID string            `json:"delivery_id"`
	EventID    string            `json:"event_id"`
	EventType  string            `json:"event_type"`
	Attempt    int               `json:"attempt"`
	Headers    map[string]string `json:"headers"`
	Body       []byte            `json:"body"`
}

// forwarded is one attempt of forwarding a delivery, as reported.
type forwarded struct {
	DeliveryID string `json:"delivery_id"`
	Attempt    int    `json:"attempt"`
	Status     int    `json:"status"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	RetryAfter string `json:"retry_after,omitempty"`

	at       time.Time
	duration time.Duration
}

// attemptRecorded is what the gateway made of a reported attempt.
type attemptRecorded struct {
	Recorded      bool                  `json:"recorded"`
	Status        sluice.DeliveryStatus `json:"status"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
	Error         *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// listener is one run of `sluice listen`.
type listener struct {
	api     *apiClient
	target  string
	timeout time.Duration
	forward *http.Client
	stdout  io.Writer
	stderr  io.Writer

	id string // the listen destination
}

// run registers the listen destination, forwards its deliveries until
// ctx ends, and deletes it.
func (l *listener) run(ctx context.Context, in listenRequest) error {
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := l.api.call(ctx, http.MethodPost, "/v1/listen", in, &created); err != nil {
		return fmt.Errorf("create the listen destination: %w", err)
	}
	l.id, in.Secret = created.ID, created.Secret
	fmt.Fprintf(l.stdout, "Forwarding events of %s to %s (listen destination %s)\n",
		strings.Join(in.EventTypes, ", "), l.target, l.id)
	fmt.Fprintf(l.stdout, "Signing secret: %s (verify deliveries with it)\n", created.Secret)
	fmt.Fprintln(l.stdout, "Press Ctrl-C to stop.")

	backoff := time.Duration(0)
	for ctx.Err() == nil {
		batch, err := l.claim(ctx)
		switch {
		case ctx.Err() != nil:
		case sluice.ErrorCode(err) == sluice.ENOTFOUND:
			// Gone: asleep or cut off past its keep-alive, it was purged.
			// A new one with the same secret and filters takes its place.
			if err := l.api.call(ctx, http.MethodPost, "/v1/listen", in, &created); err != nil {
				backoff = l.wait(ctx, backoff, err)
				continue
			}
			l.id, backoff = created.ID, 0
			fmt.Fprintf(l.stdout, "The listen destination had expired; listening again as %s\n", l.id)
		case sluice.ErrorCode(err) == sluice.EUNAUTHORIZED || sluice.ErrorCode(err) == sluice.EFORBIDDEN:
			return fmt.Errorf("claim deliveries: %w", err)
		case err != nil:
			backoff = l.wait(ctx, backoff, err)
		default:
			backoff = 0
			l.forwardAll(ctx, batch)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listenCallTimeout)
	defer cancel()
	if err := l.api.call(ctx, http.MethodDelete, "/v1/listen/"+l.id, nil, nil); err != nil &&
		sluice.ErrorCode(err) != sluice.ENOTFOUND {
		return fmt.Errorf("delete listen destination %s (it goes by itself within minutes): %w", l.id, err)
	}
	fmt.Fprintf(l.stdout, "Stopped; listen destination %s deleted.\n", l.id)
	return nil
}

// claim waits for the listen destination's next deliveries.
func (l *listener) claim(ctx context.Context) ([]listenDelivery, error) {
	ctx, cancel := context.WithTimeout(ctx, listenClaimWait+listenCallTimeout)
	defer cancel()
	var out struct {
		Data []listenDelivery `json:"data"`
	}
	path := fmt.Sprintf("/v1/listen/%s/claim?wait=%s&limit=%d", l.id, listenClaimWait, listenClaimLimit)
	err := l.api.call(ctx, http.MethodPost, path, nil, &out)
	return out.Data, err
}

// wait reports a failure to reach the gateway and waits before the next
// try, longer after each failure in a row, and returns the next wait.
func (l *listener) wait(ctx context.Context, backoff time.Duration, err error) time.Duration {
	backoff = min(max(2*backoff, time.Second), listenMaxBackoff)
	fmt.Fprintf(l.stderr, "sluice listen: %v; trying again in %s\n", err, backoff)
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return backoff
}

// forwardAll forwards a batch of deliveries at once, reports the
// attempts and prints a line for each. Forwards in flight when ctx ends
// finish (within the timeout) and are reported, so no attempt is lost.
func (l *listener) forwardAll(ctx context.Context, batch []listenDelivery) {
	if len(batch) == 0 {
		return
	}
	results := make([]forwarded, len(batch))
	var wg sync.WaitGroup
	for i := range batch {
		wg.Go(func() { results[i] = l.forwardOne(ctx, &batch[i]) })
	}
	wg.Wait()
	var out struct {
		Data []attemptRecorded `json:"data"`
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listenCallTimeout)
	defer cancel()
	err := l.api.call(ctx, http.MethodPost, "/v1/listen/"+l.id+"/attempts", map[string]any{"attempts": results}, &out)
	for i := range batch {
		var rec *attemptRecorded
		if err == nil && i < len(out.Data) {
			rec = &out.Data[i]
		}
		fmt.Fprintln(l.stdout, attemptLine(&batch[i], &results[i], rec))
	}
	if err != nil {
		fmt.Fprintf(l.stderr, "sluice listen: report the attempts: %v; the gateway tries them again after their lease\n", err)
	}
}

// forwardOne POSTs a delivery to the local URL, with the headers and body
// the gateway signed, and returns what came of it.
func (l *listener) forwardOne(ctx context.Context, d *listenDelivery) forwarded {
	out := forwarded{DeliveryID: d.DeliveryID, Attempt: d.Attempt, at: time.Now()}
	out.Status, out.Error, out.RetryAfter = l.send(ctx, d)
	out.duration = time.Since(out.at)
	out.DurationMS = out.duration.Milliseconds()
	return out
}

// send POSTs the delivery to the local URL within the timeout, and
// returns the answer's status and Retry-After, or why none came, classed
// as the dispatcher classes it (refused: nothing listens there).
func (l *listener) send(ctx context.Context, d *listenDelivery) (status int, errClass, retryAfter string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.target, bytes.NewReader(d.Body))
	if err != nil {
		return 0, deliver.ErrClassNetwork, ""
	}
	for name, v := range d.Headers {
		req.Header.Set(name, v)
	}
	res, err := l.forward.Do(req)
	if err != nil {
		return 0, deliver.ClassifyError(err), ""
	}
	_, _ = io.CopyN(io.Discard, res.Body, maxForwardedResponse)
	_ = res.Body.Close()
	return res.StatusCode, "", res.Header.Get("Retry-After")
}

// attemptLine is the line printed for an attempt: when, the event, what
// the receiver answered and how long it took, and what the gateway made
// of it. Never the body.
func attemptLine(d *listenDelivery, f *forwarded, rec *attemptRecorded) string {
	answer := fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status))
	if f.Status == 0 {
		answer = "no answer (" + f.Error + ")"
	}
	line := fmt.Sprintf("%s  %s  %s  %s  %.1fms", f.at.Format("15:04:05"), d.EventID, d.EventType, answer,
		float64(f.duration)/float64(time.Millisecond))
	if d.Attempt > 1 {
		line += fmt.Sprintf("  attempt %d", d.Attempt)
	}
	switch {
	case rec == nil:
		return line + "  (not reported)"
	case !rec.Recorded && rec.Error != nil:
		return line + "  (not recorded: " + rec.Error.Message + ")"
	case rec.Status == sluice.DeliveryPending && rec.NextAttemptAt != nil:
		return line + "  retry at " + rec.NextAttemptAt.Local().Format("15:04:05")
	case rec.Status == sluice.DeliveryExhausted:
		return line + "  no retries left"
	}
	return line
}

// newForwardClient returns the client that forwards to the local URL: no
// proxy, and redirects returned rather than followed, as the dispatcher
// does, so a receiver behaves here as it will in production.
func newForwardClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: listenClaimLimit},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// apiClient calls the gateway's API with a bearer token.
type apiClient struct {
	base, token string
	http        *http.Client
}

// call sends in (unless nil) as JSON and decodes a 2xx answer into out
// (unless nil). Any other answer is an error with the API's code and
// message.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "sluice-listen/"+sluice.Version)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return fmt.Errorf("the gateway answered %s", res.Status)
		}
		return sluice.Errorf(e.Error.Code, "%s", e.Error.Message)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// listFlag is a flag of comma-separated values that may be repeated.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }

func (f *listFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*f = append(*f, part)
		}
	}
	return nil
}
