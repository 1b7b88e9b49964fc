package inbound_test

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// now is the fixed clock of tests that do not hand headers to a library
// that reads the real one.
var now = time.Unix(1_700_000_000, 0)

// wantReason fails t unless err is of reason class want (nil for accepted)
// and its text carries none of the given secret values. It never prints a
// secret itself.
func wantReason(t *testing.T, err, want error, secrets ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Verify = %v, want accepted", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("Verify = %v, want %v", err, want)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error text contains a secret or header value (reason %v)", want)
		}
	}
}
