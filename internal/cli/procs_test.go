package cli

import (
	"log/slog"
	"runtime"
	"testing"

	"github.com/sluicehq/sluice/internal/testlog"
)

// One P is raised to two, unless GOMAXPROCS is set in the environment;
// more than two are left alone. Not parallel: GOMAXPROCS is the process's.
func TestEnsureProcs(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(was) })
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	none := func(string) string { return "" }
	for _, tc := range []struct {
		start, want int
		env         func(string) string
	}{
		{1, 2, none},
		{1, 1, func(k string) string { return map[string]string{"GOMAXPROCS": "1"}[k] }},
		{2, 2, none},
		{3, 3, none},
	} {
		runtime.GOMAXPROCS(tc.start)
		ensureProcs(logger, tc.env)
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("from %d (GOMAXPROCS=%q): %d, want %d", tc.start, tc.env("GOMAXPROCS"), got, tc.want)
		}
	}
}
