package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/sqlite"
)

// openStore opens the store the configuration names: the engine over
// PostgreSQL for --database, else over the embedded store in the data
// directory. Either refuses a master key other than the one its data was
// sealed with.
func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*engine.Store, error) {
	var (
		driver engine.Driver
		master *seal.Master
		err    error
	)
	if cfg.DatabaseURL != "" {
		// config makes the master key required with a database: processes
		// sharing one must share the key.
		if master, err = seal.NewMaster(cfg.MasterKey); err != nil {
			return nil, fmt.Errorf("%s: %w", masterKeySetting, err)
		}
		driver, err = postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Logger: logger})
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("--data-dir (SLUICE_DATA_DIR): %w", err)
		}
		if master, err = resolveMasterKey(cfg.MasterKey, cfg.DataDir); err != nil {
			return nil, err
		}
		driver, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.DataDir, storeFile), Logger: logger})
	}
	if err != nil {
		// The error never carries the database URL, which may hold a password.
		return nil, fmt.Errorf("open store: %w", err)
	}
	store, err := engine.Open(ctx, engine.Config{
		Driver: driver,
		Master: master,
		Logger: logger,
		// Notices are payloads like any other.
		NoticeRetention: cfg.PayloadRetention,
		Retention:       cfg.Retention(),
		Keys:            engine.KeyPolicy{RotateAfter: cfg.RotateKeyAfter},
	})
	if err != nil {
		driver.Close()
		if errors.Is(err, seal.ErrWrongMaster) {
			return nil, fmt.Errorf("%s: %w", masterKeySetting, err)
		}
		return nil, fmt.Errorf("open store: %w", err)
	}
	return store, nil
}

// listenForWork calls wake whenever another process sharing the store
// stores work, so the dispatcher need not wait for its next poll. A store
// of one process has no Listener: nothing to hear.
func (s *Server) listenForWork(ctx context.Context, wake func()) {
	l := s.store.Listener()
	if l == nil {
		return
	}
	listenCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopListen = cancel
	go func() {
		if err := l.ListenWork(listenCtx, wake); err != nil && listenCtx.Err() == nil {
			s.logger.Error("work notifications stopped; polling only", slog.Any("error", err))
		}
	}()
}

// purgeIdleListeners deletes the listen destinations whose `sluice
// listen` stopped claiming (it was killed, or lost its connection for
// longer than their keep-alive), in batches.
func (s *Server) purgeIdleListeners(ctx context.Context) error {
	for {
		n, err := s.store.PurgeIdleListeners(ctx, time.Now(), idleListenerBatch)
		if err != nil || n < idleListenerBatch {
			return err
		}
	}
}

// idleListenerBatch bounds the listen destinations one purge deletes.
const idleListenerBatch = 100

// shareAnomalies exchanges this process's anomaly counts with the other
// processes on a shared database, every part of the detector's window,
// until Close; on a database of its own it does nothing.
func (s *Server) shareAnomalies(ctx context.Context) {
	if !s.store.SharesAnomalyCounts() {
		return
	}
	shareCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	s.stopSharing = func() { cancel(); <-done }
	go func() {
		defer close(done)
		ticker := time.NewTicker(s.store.AnomalyShareInterval())
		defer ticker.Stop()
		for {
			select {
			case <-shareCtx.Done():
				return
			case <-ticker.C:
			}
			if err := s.store.ShareAnomalyCounts(shareCtx); err != nil && shareCtx.Err() == nil {
				s.logger.Warn("share anomaly counts", slog.Any("error", err))
			}
		}
	}()
}

// exclusiveFor returns the store's way to run work in one process at a
// time, or nil when it has one process anyway.
func exclusiveFor(store sluice.Store) func(context.Context, string, func(context.Context) error) (bool, error) {
	if x := store.Exclusive(); x != nil {
		return x.TryExclusive
	}
	return nil
}
