package sluice_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// The previous secret signs until its grace period ends, and not after.
func TestSigningSecrets(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	d := &sluice.Destination{Secret: "new", PreviousSecret: "old", PreviousSecretUntil: until}
	for _, tt := range []struct {
		at   time.Time
		want []string
	}{
		{until.Add(-time.Millisecond), []string{"new", "old"}},
		{until, []string{"new"}},
		{until.Add(time.Hour), []string{"new"}},
	} {
		if got := d.SigningSecrets(tt.at); !slices.Equal(got, tt.want) {
			t.Errorf("SigningSecrets(%s) = %v, want %v", tt.at, got, tt.want)
		}
	}
	if got := (&sluice.Destination{Secret: "only"}).SigningSecrets(until); !slices.Equal(got, []string{"only"}) {
		t.Errorf("without a previous secret: %v", got)
	}
}
