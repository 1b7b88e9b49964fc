//go:build !unix

package sqlite

import "os"

// lockFile is a no-op where flock is not available: there the operator
// must make sure one process at a time uses a data directory.
func lockFile(string) (*os.File, error) { return nil, nil }
