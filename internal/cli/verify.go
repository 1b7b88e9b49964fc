package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// verifyTolerance is how far a webhook's timestamp may be from now by
// default, as the Standard Webhooks libraries allow.
const verifyTolerance = 5 * time.Minute

// errNotVerified makes Verify exit 1 after it printed the reason itself.
var errNotVerified = errors.New("signature not verified")

var verifyCommand = command{
	name: "verify",
	args: "--secret whsec_… --id ID --timestamp UNIX --signature SIG [--tolerance DURATION] < BODY",
	about: `Checks a Standard Webhooks signature over the body on standard input, as a
receiver of Sluice's deliveries would: the webhook-id, webhook-timestamp
and webhook-signature headers go in --id, --timestamp and --signature.

It prints "verified" and exits 0, or prints the reason and exits 1. A
timestamp further than --tolerance from now is refused, against replays;
widen it to check a delivery captured earlier.`,
	examples: `
sluice verify --secret whsec_… --id evt_… --timestamp 1767225600 --signature 'v1,K5o…' < body.json
# a delivery captured an hour ago
sluice verify --tolerance 2h --secret whsec_… --id evt_… --timestamp 1767222000 --signature 'v1,K5o…' < body.json`,
}

// Verify checks a Standard Webhooks signature over the body on standard
// input, as a receiver would:
//
//	sluice verify --secret whsec_… --id … --timestamp … --signature … < body
//
// It prints "verified" and returns nil, or prints the reason and returns
// an error (exit 1). A bad flag, an argument, or a terminal for standard
// input is a usage error.
func Verify(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &verifyCommand
	fs := c.flagSet()
	secret := fs.String("secret", "", "the destination's signing secret, whsec_… (required)")
	id := fs.String("id", "", "the webhook-id header")
	timestamp := fs.String("timestamp", "", "the webhook-timestamp header (unix seconds)")
	sig := fs.String("signature", "", "the webhook-signature header (v1,… entries, space separated)")
	tolerance := fs.Duration("tolerance", verifyTolerance, "how far the timestamp may be from now, before or after (a `duration` such as 90s or 2h)")
	rest, err := c.parse(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return c.usageErrorf("unexpected argument %q: the body is read from standard input (< body.json)", rest[0])
	case *tolerance <= 0:
		return c.usageErrorf("--tolerance must be greater than zero")
	case isTerminal(stdin):
		return c.usageErrorf("the body is read from standard input: redirect it from a file (< body.json) or pipe it in")
	}
	body, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := signature.Verify(*secret, *id, *timestamp, *sig, body, time.Now(), *tolerance); err != nil {
		fmt.Fprintf(stdout, "not verified: %v\n", err) // the reasons carry no secret
		return errNotVerified
	}
	fmt.Fprintln(stdout, "verified")
	return nil
}
