package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/sqlite"
)

// drainTimeout bounds how long a shutdown waits for requests in flight; the
// dispatcher's attempts are bounded by the delivery timeout on their own.
const drainTimeout = 30 * time.Second

// Serve runs the gateway until ctx ends, then drains and returns nil.
func Serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		config.PrintUsage(stdout)
		return err
	}
	if err != nil {
		return err
	}
	logger := cfg.Logger(stderr)
	srv, err := Start(ctx, cfg, logger, stdout)
	if err != nil {
		return err
	}
	logger.Info("sluice listening", "addr", srv.Addr(), "tls", cfg.TLSCert != "", "version", versionString())
	select {
	case <-ctx.Done():
		logger.Info("sluice draining")
	case err := <-srv.serveErr:
		srv.Close()
		return fmt.Errorf("serve: %w", err)
	}
	if err := srv.Close(); err != nil {
		return err
	}
	logger.Info("sluice stopped")
	return nil
}

// Server is a running gateway: store, dispatcher and HTTP server. Serve runs
// one for the command line; bench and tests run one in process.
type Server struct {
	cfg        *config.Config
	logger     *slog.Logger
	store      *sqlite.Store
	dispatcher *deliver.Dispatcher
	http       *http.Server
	listener   net.Listener
	serveErr   chan error
}

// Start opens the store, makes sure the operator key exists (printing a
// generated token once to stdout), starts the dispatcher and begins serving.
func Start(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) (*Server, error) {
	if cfg.DatabaseURL != "" {
		return nil, errors.New("--database (SLUICE_DATABASE_URL): the PostgreSQL store is not available in this build yet; leave it empty for the embedded store")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir (SLUICE_DATA_DIR): %w", err)
	}
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(cfg.DataDir, "sluice.db"), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Server{cfg: cfg, logger: logger, store: store, serveErr: make(chan error, 1)}
	if err := s.start(ctx, stdout); err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, stdout io.Writer) error {
	token, err := bootstrapOperator(ctx, s.store, s.cfg.AdminToken)
	if err != nil {
		return err
	}
	if token != "" {
		// The one secret Sluice ever prints: to the terminal, never the log.
		fmt.Fprintf(stdout, "Sluice admin token (shown once; keep it, or set SLUICE_ADMIN_TOKEN): %s\n", token)
	}
	// The embedded store has no other process: whatever was claimed when the
	// last one stopped is not in flight any more.
	if err := s.store.ReleaseClaims(ctx); err != nil {
		return fmt.Errorf("release claims: %w", err)
	}
	s.dispatcher, err = deliver.New(deliver.Config{
		Store:         s.store,
		Logger:        s.logger,
		RetrySchedule: s.cfg.RetrySchedule,
		Timeout:       s.cfg.DeliveryTimeout,
		Lease:         s.cfg.DeliveryLease,
	})
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	if err := s.dispatcher.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start dispatcher: %w", err)
	}
	handler := api.New(api.Config{
		Store:                    s.store,
		Logger:                   s.logger,
		MaxPayloadBytes:          s.cfg.MaxPayloadBytes,
		PayloadRetention:         s.cfg.PayloadRetention,
		FirstDelay:               s.cfg.RetrySchedule[0],
		AllowPrivateDestinations: s.cfg.AllowPrivateDestinations,
		AllowedDestinationCIDRs:  s.cfg.AllowedDestinationCIDRs,
		Wake:                     s.dispatcher.Wake,
	})
	s.http = &http.Server{
		Handler: handler,
		// Slow or idle clients must not hold connections open.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	s.listener, err = net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		s.dispatcher.Stop()
		return fmt.Errorf("--addr (SLUICE_ADDR): %w", err)
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			s.listener.Close()
			s.dispatcher.Stop()
			return fmt.Errorf("--tls-cert/--tls-key (SLUICE_TLS_CERT/SLUICE_TLS_KEY): %w", err)
		}
		s.listener = tls.NewListener(s.listener, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	}
	go func() {
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL is the server's base URL on loopback-reachable form.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.listener.Addr().String()
}

// Close drains: it stops accepting, waits for requests in flight, lets
// in-flight delivery attempts finish and record, then closes the store.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	errShutdown := s.http.Shutdown(ctx)
	s.dispatcher.Stop()
	return errors.Join(errShutdown, s.store.Close())
}
