package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/internal/seal"
)

// Files in the data directory.
const (
	storeFile     = "sluice.db"
	masterKeyFile = "master.key" // base64 of the generated master key, mode 0600
)

// masterKeySetting names the master key's flag and variable in errors.
const masterKeySetting = "--master-key (SLUICE_MASTER_KEY)"

// resolveMasterKey returns the master key: the configured one; else the one
// in the data directory's key file; else, only while the directory holds
// no store yet, a new one written to that file. A store without its key is
// an error: a new key over existing data would leave it unreadable.
func resolveMasterKey(configured []byte, dataDir string) (*seal.Master, error) {
	if configured != nil {
		return seal.NewMaster(configured)
	}
	path := filepath.Join(dataDir, masterKeyFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) != seal.KeySize {
			return nil, fmt.Errorf("%s: is not base64 of %d bytes", path, seal.KeySize)
		}
		return seal.NewMaster(key)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read master key: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, storeFile)); err == nil {
		return nil, fmt.Errorf("%s: the data directory has a store but no %s; set the master key it was sealed with",
			masterKeySetting, masterKeyFile)
	}
	key := seal.GenerateKey()
	if err := writeKeyFile(path, key, false); err != nil {
		return nil, err
	}
	return seal.NewMaster(key)
}

// writeKeyFile writes key to path as base64, readable by the owner only. It
// replaces an existing file only when replace is set, and then atomically.
func writeKeyFile(path string, key []byte, replace bool) error {
	data := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	if !replace {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("create master key file: %w", err)
		}
		_, err = f.Write(data)
		return errors.Join(err, f.Sync(), f.Close())
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write master key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace master key file: %w", err)
	}
	return nil
}
