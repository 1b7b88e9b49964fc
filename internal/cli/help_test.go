package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// runMain runs sluice with args in this process, as the binary's main
// does, and returns its exit code and what it printed.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// subcommands are every command line that has a usage of its own.
var subcommands = [][]string{{"serve"}, {"trigger"}, {"listen"}, {"send"}, {"verify"}, {"keys"}, {"keys", "rotate"}, {"bench"}, {"version"}}

// -h and --help of every subcommand, and `sluice help CMD`, print a usage
// with a synopsis, the flags and an example, on stdout, and exit 0.
func TestHelpOfEveryCommand(t *testing.T) {
	t.Parallel()
	for _, cmd := range subcommands {
		name := strings.Join(cmd, " ")
		for _, args := range [][]string{append(cmd, "-h"), append(cmd, "--help"), {"help", cmd[0]}} {
			if len(cmd) > 1 && args[0] == "help" {
				continue
			}
			code, stdout, stderr := runMain(t, args...)
			if code != 0 {
				t.Errorf("sluice %s: exit %d, want 0\n%s", strings.Join(args, " "), code, stderr)
				continue
			}
			for _, want := range []string{"usage: sluice " + name, "examples:\n  ", "sluice " + name} {
				if !strings.Contains(stdout, want) {
					t.Errorf("sluice %s does not print %q:\n%s", strings.Join(args, " "), want, stdout)
				}
			}
			if name != "keys" && name != "version" && !strings.Contains(stdout, "flags:\n  --") {
				t.Errorf("sluice %s lists no flags:\n%s", strings.Join(args, " "), stdout)
			}
		}
	}
	_, stdout, _ := runMain(t, "send", "-h")
	if !strings.Contains(stdout, "--content-type string\n      the body's content type (default application/json)") {
		t.Errorf("send -h does not show a flag with its default:\n%s", stdout)
	}
	_, stdout, _ = runMain(t, "verify", "-h")
	if !strings.Contains(stdout, "--tolerance duration") || !strings.Contains(stdout, "(default 5m0s)") {
		t.Errorf("verify -h does not show --tolerance and its default:\n%s", stdout)
	}
}

// An unknown flag, or a command line a subcommand cannot act on, prints the
// error with the way to the usage and exits 2.
func TestUsageErrorsPointToHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range subcommands {
		name := strings.Join(cmd, " ")
		code, stdout, stderr := runMain(t, append(cmd, "--no-such-flag")...)
		want := "run 'sluice " + name + " -h' for usage"
		if code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "--no-such-flag") {
			t.Errorf("sluice %s --no-such-flag: exit %d, stderr %q; want 2 with %q", name, code, stderr, want)
		}
		if stdout != "" {
			t.Errorf("sluice %s --no-such-flag printed on stdout: %q", name, stdout)
		}
	}
	for _, args := range [][]string{
		{"keys"},
		{"trigger"},
		{"trigger", "no.such.sample", "--token", sluice.NewToken()},
		{"listen", "--token", sluice.NewToken()},
		{"listen", "--forward-to", "localhost:3000", "--token", sluice.NewToken()},
		{"version", "extra"},
		{"verify", "--tolerance", "0s"},
		{"bench", "--rate", "10", "--concurrency", "2"},
	} {
		code, _, stderr := runMain(t, args...)
		if want := "run 'sluice " + args[0] + " -h' for usage"; code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("sluice %s: exit %d, stderr %q; want 2 with %q", strings.Join(args, " "), code, stderr, want)
		}
	}
}
