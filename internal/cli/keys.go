package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/sqlite"
)

// Keys runs `sluice keys rotate --new-master-key …`: it re-wraps every data
// key of the embedded store under the new master key; payloads and other
// sealed values are not rewritten, since they name their data key, which
// stays. When the current key came from the data directory's key file, the
// file is replaced by the new key; otherwise start Sluice with the new key.
func Keys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New("usage: sluice keys rotate --new-master-key <base64> [--data-dir …] [--master-key …]")
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", envOr("SLUICE_DATA_DIR", "./sluice-data"), "the embedded store's `directory` (SLUICE_DATA_DIR)")
	current := fs.String("master-key", os.Getenv("SLUICE_MASTER_KEY"), "the current master key, `base64` (SLUICE_MASTER_KEY); default: the data dir's key file")
	next := fs.String("new-master-key", "", "the new master key, `base64` of 32 bytes (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if os.Getenv("SLUICE_DATABASE_URL") != "" {
		return errors.New("keys rotate: the PostgreSQL store is not available in this build yet")
	}
	oldKey, err := config.ParseMasterKey(*current)
	if err != nil {
		return fmt.Errorf("--master-key (SLUICE_MASTER_KEY): %w", err)
	}
	newKey, err := config.ParseMasterKey(*next)
	if err != nil || newKey == nil {
		return errors.New("--new-master-key: required, base64 of 32 bytes")
	}
	if _, err := os.Stat(filepath.Join(*dataDir, storeFile)); err != nil {
		return fmt.Errorf("--data-dir (SLUICE_DATA_DIR): no store in %s", *dataDir)
	}
	oldMaster, err := resolveMasterKey(oldKey, *dataDir)
	if err != nil {
		return err
	}
	newMaster, err := seal.NewMaster(newKey)
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(*dataDir, storeFile), Master: oldMaster,
		Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, seal.ErrWrongMaster) {
		return fmt.Errorf("%s: %w", masterKeySetting, err)
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	n, err := store.RewrapKeys(ctx, newMaster)
	if err := errors.Join(err, store.Close()); err != nil {
		return fmt.Errorf("rewrap data keys: %w", err)
	}
	fmt.Fprintf(stdout, "re-wrapped %d data keys under the new master key (fingerprint %s)\n", n, newMaster.Fingerprint())
	if oldKey == nil {
		if err := writeKeyFile(filepath.Join(*dataDir, masterKeyFile), newKey, true); err != nil {
			return fmt.Errorf("the data keys are re-wrapped, but the key file was not replaced (%w): start Sluice with the new key", err)
		}
		fmt.Fprintf(stdout, "replaced %s with the new key\n", masterKeyFile)
		return nil
	}
	fmt.Fprintln(stdout, "start Sluice with the new key (--master-key / SLUICE_MASTER_KEY); the old one is no longer needed")
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
