package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/inbound"
)

// sendTimeout bounds the whole request of `sluice send`.
const sendTimeout = 30 * time.Second

var sendCommand = command{
	name: "send",
	args: "--source-url URL [flags] FILE|-",
	about: `Posts a test webhook to a source's ingest URL, signed the way the provider
named by --provider signs, so a source can be tried by hand. The body is
the file FILE, or standard input with "-" (or when it is piped in); an
empty body is refused. Flags may come before or after FILE.

It prints the answer's status and body, and fails (exit 1) unless the
answer is 2xx: a source that rejects the signature answers 401.`,
	examples: `
# a Stripe-signed event to a source created with {"verification":{"type":"stripe","secret":"whsec_…"}}
sluice send --source-url http://localhost:8080/in/src_… --provider stripe --secret whsec_… event.json
# a GitHub push, the flags after the file
sluice send push.json --source-url http://localhost:8080/in/src_… --provider github --secret s3cret --event-type push
# the body from standard input
echo '{"id":"ord_1","status":"paid"}' | sluice send --source-url http://localhost:8080/in/src_… -`,
}

// Send posts a test webhook signed the way the named provider signs, so a
// source can be tried by hand:
//
//	sluice send --source-url URL --provider stripe --secret whsec_… file.json
//
// The body comes from the file, or standard input with "-" or when no file
// is given and standard input is not a terminal. It prints the answer's
// status and body, and fails unless it is 2xx. A missing or empty body,
// like a bad flag, is a usage error.
func Send(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &sendCommand
	fs := c.flagSet()
	var (
		target, eventType, id, contentType string
		v                                  sluice.Verification
	)
	fs.StringVar(&target, "source-url", "", "the source's ingest `URL`, http://…/in/src_… (required)")
	fs.StringVar(&v.Type, "provider", sluice.VerifyNone, "how to sign: none, stripe, github, shopify, standard-webhooks, hmac, basic or token")
	fs.StringVar(&v.Secret, "secret", "", "the signing secret, or the token for --provider token")
	fs.StringVar(&v.Header, "header", "", "the signature or token header (hmac, token)")
	fs.StringVar(&v.Algorithm, "algorithm", "", "sha256, sha512 or sha1 (hmac; default sha256)")
	fs.StringVar(&v.Encoding, "encoding", "", "hex or base64 (hmac; default hex)")
	fs.StringVar(&v.Prefix, "prefix", "", "what precedes the signature in its header, such as sha256= (hmac)")
	fs.StringVar(&v.Username, "username", "", "Basic username (basic)")
	fs.StringVar(&v.Password, "password", "", "Basic password (basic)")
	fs.StringVar(&eventType, "event-type", "", "the event type, for providers that send it in a header (github: X-GitHub-Event)")
	fs.StringVar(&id, "id", "", "the provider's event or delivery id, where it sends one in a header (default: generated)")
	fs.StringVar(&contentType, "content-type", "application/json", "the body's content type")
	files, err := c.parse(fs, args, stdout)
	if err != nil {
		return err
	}
	if target == "" {
		return c.usageErrorf("--source-url is required: the ingest_url of the source to try")
	}
	if !isHTTPURL(target) {
		return c.usageErrorf("--source-url must be an http or https URL")
	}
	if err := inbound.Check(&v); err != nil {
		return c.usageErrorf("--provider %s: %w", v.Type, err)
	}
	body, err := readBody(c, files, stdin)
	if err != nil {
		return err
	}
	if id == "" {
		id = sluice.NewID("test_")
	}
	header, err := inbound.Sign(&v, body, id, time.Now())
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	// Providers that put the type and the id in headers get them there, where
	// a source of that type looks by default.
	typePath, idPath := inbound.DefaultPaths(v.Type)
	if name, ok := strings.CutPrefix(typePath, inbound.HeaderPathPrefix); ok && eventType != "" {
		header.Set(name, eventType)
	}
	if name, ok := strings.CutPrefix(idPath, inbound.HeaderPathPrefix); ok && header.Get(name) == "" {
		header.Set(name, id)
	}
	header.Set("Content-Type", contentType)
	header.Set("User-Agent", "sluice-send/"+sluice.Version)
	return post(ctx, target, header, body, stdout)
}

// readBody reads the file named in files, or standard input for "-" or no
// file. No file with a terminal for standard input, and an empty body, are
// usage errors of c: the first would wait for typing nobody meant to do.
func readBody(c *command, files []string, stdin io.Reader) ([]byte, error) {
	var (
		body []byte
		err  error
	)
	switch {
	case len(files) > 1:
		return nil, c.usageErrorf("give one body file, not %d", len(files))
	case len(files) == 0 && isTerminal(stdin):
		return nil, c.usageErrorf("no body: give a FILE, or - to read standard input")
	case len(files) == 0 || files[0] == "-":
		body, err = io.ReadAll(stdin)
	default:
		body, err = os.ReadFile(files[0])
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) == 0 {
		from := "standard input"
		if len(files) == 1 && files[0] != "-" {
			from = files[0]
		}
		return nil, c.usageErrorf("the body from %s is empty: a webhook needs one", from)
	}
	return body, nil
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// post sends the webhook and prints the answer: an error unless it is 2xx.
func post(ctx context.Context, target string, header http.Header, body []byte, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header = header
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	fmt.Fprintf(stdout, "%s\n%s\n", res.Status, bytes.TrimSpace(answer))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("the source answered %s", res.Status)
	}
	return nil
}
