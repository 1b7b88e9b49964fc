package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/sqlite"
)

// openStore opens the store the configuration names: PostgreSQL for
// --database, else the embedded store in the data directory. Either
// refuses a master key other than the one its data was sealed with.
func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (sluice.Store, error) {
	var (
		store sluice.Store
		err   error
	)
	if cfg.DatabaseURL != "" {
		// config makes the master key required with a database: processes
		// sharing one must share the key.
		master, merr := seal.NewMaster(cfg.MasterKey)
		if merr != nil {
			return nil, fmt.Errorf("%s: %w", masterKeySetting, merr)
		}
		store, err = postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Master: master, Logger: logger})
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("--data-dir (SLUICE_DATA_DIR): %w", err)
		}
		master, merr := resolveMasterKey(cfg.MasterKey, cfg.DataDir)
		if merr != nil {
			return nil, merr
		}
		store, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.DataDir, storeFile), Master: master, Logger: logger})
	}
	if errors.Is(err, seal.ErrWrongMaster) {
		return nil, fmt.Errorf("%s: %w", masterKeySetting, err)
	}
	if err != nil {
		// The error never carries the database URL, which may hold a password.
		return nil, fmt.Errorf("open store: %w", err)
	}
	return store, nil
}

// workListener is a store that tells of new work other processes stored.
type workListener interface {
	ListenWork(ctx context.Context, wake func()) error
}

// exclusiveRunner is a store shared by processes that can make one of
// them at a time run a piece of background work.
type exclusiveRunner interface {
	TryExclusive(ctx context.Context, name string, fn func(context.Context) error) (bool, error)
}

// listenForWork wakes the dispatcher whenever any process sharing the store
// stores work, so it need not wait for its next poll. Stores of one process
// have nothing to tell.
func (s *Server) listenForWork(ctx context.Context) {
	l, ok := s.store.(workListener)
	if !ok {
		return
	}
	listenCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopListen = cancel
	go func() {
		if err := l.ListenWork(listenCtx, s.dispatcher.Wake); err != nil && listenCtx.Err() == nil {
			s.logger.Error("work notifications stopped; polling only", slog.Any("error", err))
		}
	}()
}

// exclusiveFor returns the store's way to run work in one process at a
// time, or nil when it has one process anyway.
func exclusiveFor(store sluice.Store) func(context.Context, string, func(context.Context) error) (bool, error) {
	if x, ok := store.(exclusiveRunner); ok {
		return x.TryExclusive
	}
	return nil
}
