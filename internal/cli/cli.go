// Package cli implements sluice's subcommands: serve, verify, send, keys, bench and version.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage: sluice <command> [flags]

commands:
  serve     run the gateway (sluice serve -h lists its flags)
  verify    check a Standard Webhooks signature over the body on stdin (sluice verify -h)
  send      post a signed test webhook to a source (sluice send -h)
  keys      rotate the master key: sluice keys rotate --new-master-key …
  bench     load-test a gateway and print throughput and latency
  version   print the version
`

// Main runs the subcommand named by args[0] and returns the process exit
// code: 0 on success (and after -h), 1 on failure, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = Serve(ctx, rest, stdout, stderr)
	case "verify":
		err = Verify(rest, os.Stdin, stdout, stderr)
	case "keys":
		err = Keys(ctx, rest, stdout, stderr)
	case "send":
		err = Send(ctx, rest, os.Stdin, stdout, stderr)
	case "bench":
		err = Bench(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "sluice %s\n", versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0 // help was asked for and printed
	case errors.Is(err, errNotVerified):
		return 1 // the reason is printed already
	default:
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
}
