// Package cli implements sluice's subcommands: serve, trigger, listen, send,
// verify, keys, bench and version.
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
  serve     run the gateway
  trigger   publish a built-in sample event to a running gateway
  listen    forward a running gateway's deliveries to a local URL
  send      post a signed test webhook to a source
  verify    check a Standard Webhooks signature over the body on stdin
  keys      rotate the master key
  bench     load-test a gateway and print throughput and latency
  version   print the version

Run 'sluice <command> -h' (or 'sluice help <command>') for a command's usage.
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
	case "trigger":
		err = Trigger(ctx, rest, stdout, stderr)
	case "verify":
		err = Verify(rest, os.Stdin, stdout, stderr)
	case "keys":
		err = Keys(ctx, rest, stdout, stderr)
	case "send":
		err = Send(ctx, rest, os.Stdin, stdout, stderr)
	case "listen":
		err = Listen(ctx, rest, stdout, stderr)
	case "bench":
		err = Bench(ctx, rest, stdout, stderr)
	case "version":
		err = Version(rest, stdout)
	case "help", "-h", "--help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return 0
		}
		// sluice help send is sluice send -h.
		return Main(ctx, []string{rest[0], "-h"}, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0 // help was asked for and printed
	case errors.Is(err, errNotVerified):
		return 1 // the reason is printed already
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "sluice %s: %v\nrun 'sluice %s -h' for usage\n", ue.cmd, ue.err, ue.cmd)
		return 2
	default:
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
}

var versionCommand = command{
	name:     "version",
	about:    "Prints the version of Sluice and of the Go toolchain that built it.",
	examples: "sluice version   # e.g. sluice 0.1.0 go1.26.8",
}

// Version prints the version.
func Version(args []string, stdout io.Writer) error {
	c := &versionCommand
	rest, err := c.parse(c.flagSet(), args, stdout)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return c.usageErrorf("unexpected argument %q", rest[0])
	}
	fmt.Fprintf(stdout, "sluice %s\n", versionString())
	return nil
}
