package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// verifyTolerance is how far a webhook's timestamp may be from now, as the
// Standard Webhooks libraries allow.
const verifyTolerance = 5 * time.Minute

// errNotVerified makes Verify exit 1 after it printed the reason itself.
var errNotVerified = errors.New("signature not verified")

// Verify checks a Standard Webhooks signature over the body on standard
// input, as a receiver would:
//
//	sluice verify --secret whsec_… --id … --timestamp … --signature … < body
//
// It prints "verified" and returns nil, or prints the reason and returns
// an error (exit 1).
func Verify(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "the destination's signing secret, whsec_… (required)")
	id := fs.String("id", "", "the webhook-id header")
	timestamp := fs.String("timestamp", "", "the webhook-timestamp header (unix seconds)")
	sig := fs.String("signature", "", "the webhook-signature header (v1,… entries, space separated)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: the body is read from standard input", fs.Arg(0))
	}
	body, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := signature.Verify(*secret, *id, *timestamp, *sig, body, time.Now(), verifyTolerance); err != nil {
		fmt.Fprintf(stdout, "not verified: %v\n", err) // the reasons carry no secret
		return errNotVerified
	}
	fmt.Fprintln(stdout, "verified")
	return nil
}
