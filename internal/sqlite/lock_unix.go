//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errLocked reports that another process has the store open.
var errLocked = errors.New("the store is in use by another process (a running sluice serve?); stop it first")

// lockFile takes an exclusive, non-blocking lock on path, which it creates
// if needed. The embedded store is one process's: a second server would
// break group commit's assumptions, and a key rotation under a running
// server would leave it sealing with a retired master key. The lock ends
// when the file is closed or the process dies, so a crash leaves none.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock store: %w", err)
	}
	return f, nil
}
