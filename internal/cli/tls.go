package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// certHolder is the TLS key pair the server presents. It is read from its
// files at start and again on every reload, so a renewed certificate takes
// effect without a restart; connections already open keep the pair they
// were handshaken with.
type certHolder struct {
	certFile, keyFile string
	logger            *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
}

// newCertHolder loads the key pair from certFile and keyFile.
func newCertHolder(certFile, keyFile string, logger *slog.Logger) (*certHolder, error) {
	h := &certHolder{certFile: certFile, keyFile: keyFile, logger: logger}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	h.cert.Store(cert)
	return h, nil
}

// loadKeyPair reads and parses a PEM certificate (chain) and its key. The
// errors name the step and the file, never the file's content.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse key pair: %w", err)
	}
	return &cert, nil
}

// tlsConfig serves whatever pair the holder has at each handshake.
func (h *certHolder) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return h.cert.Load(), nil
		},
	}
}

// reload reads the pair from its files again and swaps it in. On failure,
// say a half-written renewal, it logs a warning and keeps serving the pair
// it had.
func (h *certHolder) reload() error {
	cert, err := loadKeyPair(h.certFile, h.keyFile)
	if err != nil {
		h.logger.Warn("tls certificate reload failed; serving the previous certificate", "error", err)
		return fmt.Errorf("reload tls certificate: %w", err)
	}
	h.cert.Store(cert)
	attrs := []any{"cert", h.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "not_after", cert.Leaf.NotAfter)
	}
	h.logger.Info("tls certificate reloaded", attrs...)
	return nil
}

// reloadOnSIGHUP reloads the pair whenever the process gets SIGHUP, until
// the returned function is called.
func (h *certHolder) reloadOnSIGHUP() (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-hup:
				h.reload() // failures are logged; the old pair stays
			case <-done:
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(hup)
			close(done)
			wg.Wait()
		})
	}
}
