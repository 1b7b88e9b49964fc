package main_test

import (
	"strings"
	"testing"
)

// The binary prints a command's usage on stdout and exits 0 for -h and
// `help`, and exits 2 with the way to the usage on stderr for a usage
// error. Every command's usage and usage errors are tested in process
// (internal/cli); these check what the binary adds: the exit code and the
// streams.
func TestHelpThroughTheBinary(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve", "-h"}, {"help", "keys"}, {"keys", "rotate", "--help"}} {
		code, stdout, stderr := runSluice(t, nil, args...)
		if code != 0 || !strings.Contains(stdout, "usage: sluice ") || stderr != "" {
			t.Errorf("sluice %s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", strings.Join(args, " "),
				code, stdout, stderr)
		}
	}
	code, stdout, stderr := runSluice(t, nil, "bench", "--no-such-flag")
	if want := "run 'sluice bench -h' for usage"; code != 2 || !strings.Contains(stderr, want) || stdout != "" {
		t.Errorf("sluice bench --no-such-flag: exit %d, stdout %q, stderr %q; want 2 and %q on stderr", code, stdout,
			stderr, want)
	}
}
