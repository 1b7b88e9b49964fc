package cli

import (
	"log/slog"
	"runtime"
)

// minProcs is the fewest Ps (GOMAXPROCS) the gateway runs with, whatever
// the CPUs it may use. The embedded store's writer spends much of its time
// in system calls (writing and syncing its log) while holding a P; with
// one P, every request and delivery waits until the runtime takes the P
// back, and `sluice serve` pinned to one core (`taskset -c 1`), or in a
// container allowed one CPU, delivered about 1,100 events a second where
// with two Ps on that same core it delivered about 3,400.
const minProcs = 2

// ensureProcs raises GOMAXPROCS to minProcs unless GOMAXPROCS is set in
// the environment (getenv), which then rules. Raising it stops the runtime
// from adjusting it to a container's CPU limit later; it only ever raises
// it from one.
func ensureProcs(logger *slog.Logger, getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" {
		return
	}
	if n := runtime.GOMAXPROCS(0); n < minProcs {
		runtime.GOMAXPROCS(minProcs)
		logger.Info("GOMAXPROCS raised: the store's writer blocks in system calls", "from", n, "to", minProcs)
	}
}
