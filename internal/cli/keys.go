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
)

// Keys runs `sluice keys rotate --new-master-key …`: it re-wraps every data
// key of the store (embedded, or PostgreSQL with --database) under the new
// master key; payloads and other
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
	database := fs.String("database", os.Getenv("SLUICE_DATABASE_URL"), "PostgreSQL `URL` (SLUICE_DATABASE_URL); empty: the embedded store")
	current := fs.String("master-key", os.Getenv("SLUICE_MASTER_KEY"), "the current master key, `base64` (SLUICE_MASTER_KEY); default: the data dir's key file")
	next := fs.String("new-master-key", "", "the new master key, `base64` of 32 bytes (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	oldKey, err := config.ParseMasterKey(*current)
	if err != nil {
		return fmt.Errorf("%s: %w", masterKeySetting, err)
	}
	newKey, err := config.ParseMasterKey(*next)
	if err != nil || newKey == nil {
		return errors.New("--new-master-key: required, base64 of 32 bytes")
	}
	newMaster, err := seal.NewMaster(newKey)
	if err != nil {
		return err
	}
	cfg := &config.Config{DataDir: *dataDir, DatabaseURL: *database, MasterKey: oldKey}
	switch {
	case cfg.DatabaseURL != "" && oldKey == nil:
		return fmt.Errorf("%s: required with --database", masterKeySetting)
	case cfg.DatabaseURL == "":
		// Never create a store (or a key file) here: there must be one.
		if _, err := os.Stat(filepath.Join(*dataDir, storeFile)); err != nil {
			return fmt.Errorf("--data-dir (SLUICE_DATA_DIR): no store in %s", *dataDir)
		}
	}
	store, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	n, err := store.RewrapKeys(ctx, newMaster)
	if err := errors.Join(err, store.Close()); err != nil {
		return fmt.Errorf("rewrap data keys: %w", err)
	}
	fmt.Fprintf(stdout, "re-wrapped %d data keys under the new master key (fingerprint %s)\n", n, newMaster.Fingerprint())
	if cfg.DatabaseURL == "" && oldKey == nil {
		if err := writeKeyFile(filepath.Join(*dataDir, masterKeyFile), newKey, true); err != nil {
			return fmt.Errorf("the data keys are re-wrapped, but the key file was not replaced (%w): start Sluice with the new key", err)
		}
		fmt.Fprintf(stdout, "replaced %s with the new key\n", masterKeyFile)
		return nil
	}
	fmt.Fprintln(stdout, "start every Sluice process with the new key (--master-key / SLUICE_MASTER_KEY); the old one is no longer needed")
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
