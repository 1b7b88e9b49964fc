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

var keysCommand = command{
	name: "keys",
	args: "rotate [flags]",
	about: `Manages the master key, which wraps every data key Sluice seals payloads
and secrets with.

commands:
  rotate   re-wrap every data key under a new master key (sluice keys rotate -h)`,
	examples: `sluice keys rotate --new-master-key "$(openssl rand -base64 32)"`,
}

var keysRotateCommand = command{
	name: "keys rotate",
	args: "--new-master-key BASE64 [flags]",
	about: `Re-wraps every data key of the store (the embedded one in --data-dir, or
PostgreSQL with --database) under a new master key. Payloads and other
sealed values are not rewritten: they name their data key, which stays.

When the current key came from the data directory's key file, the file is
replaced by the new key. Otherwise (--master-key or SLUICE_MASTER_KEY),
start every Sluice process with the new key afterwards. The embedded store
must not be in use: stop the gateway first.`,
	examples: `
# the embedded store in ./sluice-data, its key file replaced
sluice keys rotate --new-master-key "$(openssl rand -base64 32)"
# PostgreSQL: give the current key, then restart every process with the new one
sluice keys rotate --database postgres://… --master-key "$SLUICE_MASTER_KEY" --new-master-key "$NEW_KEY"`,
}

// Keys runs `sluice keys rotate --new-master-key …`: it re-wraps every data
// key of the store (embedded, or PostgreSQL with --database) under the new
// master key; payloads and other
// sealed values are not rewritten, since they name their data key, which
// stays. When the current key came from the data directory's key file, the
// file is replaced by the new key; otherwise start Sluice with the new key.
// -h prints the usage; a missing or unknown subcommand is a usage error.
func Keys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &keysCommand
	if len(args) == 0 {
		return c.usageErrorf("name a command: rotate")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		c.printUsage(stdout, nil)
		return flag.ErrHelp
	case "rotate":
		return keysRotate(ctx, args[1:], stdout)
	}
	return c.usageErrorf("unknown command %q (there is one: rotate)", args[0])
}

func keysRotate(ctx context.Context, args []string, stdout io.Writer) error {
	c := &keysRotateCommand
	fs := c.flagSet()
	dataDir := fs.String("data-dir", "./sluice-data", "the embedded store's `directory` (SLUICE_DATA_DIR)")
	database := fs.String("database", "", "PostgreSQL `URL` (SLUICE_DATABASE_URL); empty: the embedded store")
	current := fs.String("master-key", "", "the current master key, `base64` (SLUICE_MASTER_KEY); default: the data dir's key file")
	next := fs.String("new-master-key", "", "the new master key, `base64` of 32 bytes (required)")
	rest, err := c.parse(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return c.usageErrorf("unexpected argument %q", rest[0])
	}
	if err := fromEnv(fs, map[string]string{"data-dir": "SLUICE_DATA_DIR", "database": "SLUICE_DATABASE_URL",
		"master-key": "SLUICE_MASTER_KEY"}); err != nil {
		return err
	}
	oldKey, err := config.ParseMasterKey(*current)
	if err != nil {
		return fmt.Errorf("%s: %w", masterKeySetting, err)
	}
	newKey, err := config.ParseMasterKey(*next)
	if err != nil || newKey == nil {
		return c.usageErrorf("--new-master-key: required, base64 of 32 bytes")
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
