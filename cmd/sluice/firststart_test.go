package main_test

import (
	"strings"
	"testing"
)

// An --admin-token shorter than 32 characters is refused at start, without
// being echoed.
func TestAdminTokenTooShortRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		env  []string
	}{
		{[]string{"--admin-token", "hunter"}, nil},
		{nil, []string{"SLUICE_ADMIN_TOKEN=hunter2hunter2hunter2"}},
	} {
		code, stdout, stderr := runSluice(t, c.env, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, "--admin-token (SLUICE_ADMIN_TOKEN)") || !strings.Contains(stderr, "at least 32") {
			t.Errorf("%v %v: exit %d, stderr %q; want 1 naming --admin-token and the 32 characters", c.args, c.env, code, stderr)
		}
		if strings.Contains(stdout+stderr, "hunter") {
			t.Errorf("%v %v: the refusal echoes the token", c.args, c.env)
		}
	}
}
