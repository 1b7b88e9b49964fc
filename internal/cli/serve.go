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
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/keyuse"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/retention"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/thin"
	"github.com/sluicehq/sluice/internal/ui"
)

// drainTimeout bounds how long a shutdown waits for requests in flight; the
// dispatcher's attempts are bounded by the delivery timeout on their own.
const drainTimeout = 30 * time.Second

var serveCommand = command{
	name: "serve",
	args: "[flags]",
	about: `Runs the gateway: the JSON API under /v1/, the ingest URLs /in/{source_id},
the dashboard under /ui/ and the delivery workers. With no flags it keeps an
embedded store (SQLite) and a generated master key in ./sluice-data and
listens on :8080. With --database, every process sharing that PostgreSQL
database shares the work.

On the first start it creates the default tenant and prints its operator
token (the admin token) once, on stdout. To choose it, or to replace a lost
one, start with --admin-token or SLUICE_ADMIN_TOKEN set to a token of at
least 32 characters: the stored token follows it on every start.

Every flag can also be set by the variable in brackets; a flag wins over its
variable. SIGINT and SIGTERM drain and exit 0; SIGHUP reloads the TLS pair.`,
	examples: `
sluice serve                                        # ./sluice-data, listening on :8080
sluice serve --addr 127.0.0.1:9000 --data-dir /var/lib/sluice
export SLUICE_ADMIN_TOKEN=sk_$(openssl rand -hex 32) # choose (or replace) the operator token
sluice serve --database postgres://sluice@db/sluice --master-key "$(cat master.key)"`,
}

// Serve runs the gateway until ctx ends, then drains and returns nil.
func Serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &serveCommand
	cfg, err := config.Load(args, os.Getenv)
	var ue *config.UsageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printUsage(stdout, config.Flags())
		return err
	case errors.As(err, &ue):
		return c.usageError(dashDash(ue.Err))
	case err != nil:
		return err
	}
	logger := cfg.Logger(stderr)
	ensureProcs(logger, os.Getenv)
	srv, err := Start(ctx, cfg, logger, stdout)
	if err != nil {
		return err
	}
	logger.Info("sluice listening", "addr", srv.Addr(), "tls", cfg.TLSCert != "", "version", versionString())
	base := srv.publicBase() // how clients reach it, through a proxy
	logger.Info("dashboard", "url", base+"/ui/")
	if srv.firstStart {
		// The token is on stdout already, or was chosen: never again here.
		logger.Info("next step: publish a test event", "command", triggerHint(base))
	}
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
	store      *engine.Store
	stopListen context.CancelFunc // ends the store's work notifications; nil without them
	// stopSharing ends the exchange of anomaly counts and waits for it;
	// nil without one.
	stopSharing func()
	dispatcher  *deliver.Dispatcher
	retention   *retention.Service
	metrics     *metrics.Metrics
	http        *http.Server
	listener    net.Listener
	serveErr    chan error
	timeouts    serverTimeouts
	firstStart  bool // this start created the default tenant

	certs      *certHolder // nil without TLS
	stopReload func()      // stops the SIGHUP listener; nil without TLS
}

// serverTimeouts bound each phase of a client connection so that slow or
// idle clients cannot hold connections open.
type serverTimeouts struct {
	readHeader time.Duration // request line and headers
	read       time.Duration // the whole request, body included
	write      time.Duration // from the end of the headers to the end of the response
	idle       time.Duration // between requests on a keep-alive connection
}

// defaultTimeouts leave room for a large body on a slow link while cutting
// off clients that trickle headers or sit idle.
var defaultTimeouts = serverTimeouts{
	readHeader: 10 * time.Second,
	read:       60 * time.Second,
	write:      60 * time.Second,
	idle:       120 * time.Second,
}

// Start binds the listen address, opens the store, makes sure the operator
// key exists (printing a generated token once to stdout), starts the
// dispatcher and begins serving.
func Start(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) (*Server, error) {
	return startWithTimeouts(ctx, cfg, logger, stdout, defaultTimeouts)
}

// startWithTimeouts is Start with the connection timeouts given; tests
// shorten them.
func startWithTimeouts(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer, timeouts serverTimeouts) (*Server, error) {
	// The address first: a busy port must stop a first start before it
	// creates anything, above all before it generates and prints the
	// operator token, which it prints only once.
	listener, err := listen(cfg.Addr)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		listener.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, store: store, listener: listener, serveErr: make(chan error, 1), timeouts: timeouts}
	if err := s.start(ctx, stdout); err != nil {
		listener.Close()
		store.Close()
		return nil, err
	}
	return s, nil
}

// listen binds addr, naming the setting when it cannot.
func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("--addr (SLUICE_ADDR): %w: stop what listens there or choose another address; nothing was created", err)
	case err != nil:
		return nil, fmt.Errorf("--addr (SLUICE_ADDR): %w", err)
	}
	return l, nil
}

func (s *Server) start(ctx context.Context, stdout io.Writer) error {
	if s.cfg.TLSCert != "" {
		certs, err := newCertHolder(s.cfg.TLSCert, s.cfg.TLSKey, s.logger)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key (SLUICE_TLS_CERT/SLUICE_TLS_KEY): %w", err)
		}
		s.certs = certs
	}
	token, created, err := bootstrapOperator(ctx, s.store, s.cfg.AdminToken)
	if err != nil {
		return err
	}
	s.firstStart = created
	if token != "" {
		// The one secret Sluice ever prints: to the terminal, never the log.
		fmt.Fprintf(stdout, "Sluice admin token (shown once; keep it, or set SLUICE_ADMIN_TOKEN): %s\n", token)
	}
	// The embedded store has one process, so whatever was claimed when the
	// last one stopped is not in flight any more; a shared store releases
	// only what no live process holds (see its ReleaseClaims).
	if err := s.store.ReleaseClaims(ctx); err != nil {
		return fmt.Errorf("release claims: %w", err)
	}
	s.metrics = metrics.New(metrics.Config{Store: s.store, Logger: s.logger})
	fetchKey := s.store.FetchKey()
	s.dispatcher, err = deliver.New(deliver.Config{
		// Thin deliveries' fetch URLs: where receivers reach this gateway.
		Fetch:         thin.Issuer{Base: s.publicBase(), Key: fetchKey},
		Metrics:       s.metrics,
		Store:         s.store,
		Logger:        s.logger,
		RetrySchedule: s.cfg.RetrySchedule,
		Timeout:       s.cfg.DeliveryTimeout,
		Lease:         s.cfg.DeliveryLease,
		PerTenant:     s.cfg.TenantWorkers,
		Policy: safehttp.Policy{
			AllowPrivate: s.cfg.AllowPrivateDestinations,
			Allowed:      s.cfg.AllowedDestinationCIDRs,
		},
	})
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	if err := s.dispatcher.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start dispatcher: %w", err)
	}
	s.retention, err = retention.New(retention.Config{
		Store:     s.store,
		Exclusive: exclusiveFor(s.store),
		Interval:  s.cfg.RetentionInterval,
		Logger:    s.logger,
		OnPass:    func(p retention.Pass) { s.metrics.Purged(p.Payloads, p.Events) },
		// Listen destinations whose listener went away go, and old data
		// keys go once nothing sealed under them is left.
		AfterPurge: func(ctx context.Context) error {
			errListeners := s.purgeIdleListeners(ctx)
			_, err := s.store.RetireDataKeys(ctx)
			return errors.Join(errListeners, err)
		},
	})
	if err != nil {
		s.dispatcher.Stop()
		return fmt.Errorf("retention: %w", err)
	}
	if err := s.retention.Start(context.WithoutCancel(ctx)); err != nil {
		s.dispatcher.Stop()
		return fmt.Errorf("start retention: %w", err)
	}
	s.shareAnomalies(ctx)
	// Destinations may not lead back here (safehttp.Self).
	self := safehttp.Self{Listen: []netip.AddrPort{s.listener.Addr().(*net.TCPAddr).AddrPort()}}
	reached := origin.Origin{Public: s.cfg.PublicURL, Trusted: s.cfg.TrustedProxies}
	// One record of keys' uses for the API and the dashboard: a key used
	// by both costs one write a minute, not two.
	keyUse := keyuse.New(s.store, s.logger)
	handler := api.New(api.Config{
		KeyUse:                   keyUse,
		Self:                     self,
		MaxHops:                  s.cfg.MaxHops,
		Store:                    s.store,
		Logger:                   s.logger,
		MaxPayloadBytes:          s.cfg.MaxPayloadBytes,
		Retention:                s.cfg.Retention(),
		FirstDelay:               s.cfg.RetrySchedule[0],
		AllowPrivateDestinations: s.cfg.AllowPrivateDestinations,
		AllowedDestinationCIDRs:  s.cfg.AllowedDestinationCIDRs,
		TrustedProxies:           s.cfg.TrustedProxies,
		Origin:                   reached,
		DetectEmails:             s.cfg.DetectEmails,
		Wake:                     s.dispatcher.Wake,
		Offers:                   s.dispatcher,
		Metrics:                  s.metrics,
		RetrySchedule:            s.cfg.RetrySchedule,
		DeliveryLease:            s.cfg.DeliveryLease,
		FetchKey:                 fetchKey,
	})
	// Work stored elsewhere wakes the dispatcher and the listeners'
	// waiting claims alike.
	wake := func() {
		s.dispatcher.Wake()
		handler.WakeListeners()
	}
	s.listenForWork(ctx, wake)
	policy := safehttp.Policy{
		AllowPrivate: s.cfg.AllowPrivateDestinations,
		Allowed:      s.cfg.AllowedDestinationCIDRs,
		Self:         self,
	}
	pages := ui.Settings{Logger: s.logger, Policy: policy, Origin: reached, Wake: wake,
		FirstDelay: s.cfg.RetrySchedule[0]}
	handler.Handle("/ui/", ui.New(ui.Config{
		Store:             s.store,
		Settings:          pages,
		KeyUse:            keyUse,
		Metrics:           s.metrics,
		PayloadRetention:  s.cfg.PayloadRetention,
		MetadataRetention: s.cfg.MetadataRetention,
		RetentionInterval: s.cfg.RetentionInterval,
	}))
	// Customers' portals: a boundary of their own beside the dashboard,
	// with its own cookie and sessions (see ui.Portal).
	handler.Handle("/portal/", ui.NewPortal(ui.PortalConfig{Store: s.store, Settings: pages}))
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: s.timeouts.readHeader,
		ReadTimeout:       s.timeouts.read,
		WriteTimeout:      s.timeouts.write,
		IdleTimeout:       s.timeouts.idle,
		ErrorLog:          serverErrorLog(s.logger),
	}
	// A drain does not wait for the listeners' claims to time out.
	s.http.RegisterOnShutdown(handler.EndLongPolls)
	if s.certs != nil {
		s.listener = tls.NewListener(s.listener, s.certs.tlsConfig())
		s.stopReload = s.certs.reloadOnSIGHUP()
	}
	go func() {
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	return nil
}

// ReloadCertificate reads the TLS key pair from its files again and serves
// it to new connections; on error the previous pair stays in use. Without
// TLS it does nothing. sluice serve calls it on SIGHUP.
func (s *Server) ReloadCertificate() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.reload()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL is the server's base URL in a form reachable from this machine: an
// unspecified listen address (:8080, 0.0.0.0, [::]) is named localhost.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(s.listener.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// publicBase is the base URL receivers reach the gateway by: the public
// URL, else the listen address (URL), which only reaches a receiver on
// the same host or network.
func (s *Server) publicBase() string {
	if s.cfg.PublicURL != nil {
		return s.cfg.PublicURL.String()
	}
	return s.URL()
}

// Close drains: it stops accepting, waits for requests in flight, lets
// in-flight delivery attempts finish and record, then closes the store.
func (s *Server) Close() error {
	if s.stopReload != nil {
		s.stopReload()
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	errShutdown := s.http.Shutdown(ctx)
	if s.stopListen != nil {
		s.stopListen()
	}
	if s.stopSharing != nil {
		s.stopSharing()
	}
	s.dispatcher.Stop()
	s.retention.Stop()
	return errors.Join(errShutdown, s.store.Close())
}

// triggerHint is the command that publishes a first test event to the
// gateway at base, the token left for the reader to fill in.
func triggerHint(base string) string {
	hint := "sluice trigger order.paid --token <admin token>"
	if base != defaultGatewayURL {
		hint += " --url " + base
	}
	return hint
}
