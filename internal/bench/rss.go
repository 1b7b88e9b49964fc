package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// peakRSS returns this process's peak resident set size in bytes, VmHWM in
// /proc/self/status, or 0 where there is no such file (not Linux).
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// resetPeakRSS makes the peak start again from the current RSS, so that
// each phase reports its own peak rather than the process's so far. Writing
// "5" to clear_refs does that on Linux 4.0 and later; elsewhere it fails and
// the peak is the process's since it started.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// rssScope says whose memory the peak RSS is.
func rssScope(inProcess bool) string {
	if inProcess {
		return "bench process with the in-process gateway"
	}
	return "bench process only; gateway n/a"
}
