package cli

import (
	"context"
	"log"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
)

// clientAddrRE matches the address net/http names a client by in its own
// error lines ("http: TLS handshake error from 203.0.113.9:53122: …"):
// an IPv4 address or a bracketed IPv6 one, with an optional port.
var clientAddrRE = regexp.MustCompile(`\[[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:%\w+)?\](?::\d+)?|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b`)

// serverErrorLog is the http.Server's ErrorLog: net/http's own lines (TLS
// handshake failures, panics in handlers, accept errors) go to logger at
// warn level with every client address cut to its network (a /24 for
// IPv4, a /48 for IPv6) and its port dropped. An address is personal
// data; the network is enough to tell a scanner from a customer.
func serverErrorLog(logger *slog.Logger) *log.Logger {
	return log.New(serverLogWriter{logger}, "", 0)
}

type serverLogWriter struct{ logger *slog.Logger }

func (w serverLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(redactAddrs(string(p)))
	w.logger.LogAttrs(context.Background(), slog.LevelWarn, "http server", slog.String("error", msg))
	return len(p), nil
}

// redactAddrs replaces every IP address in s, with its port if any, by
// the network it belongs to.
func redactAddrs(s string) string {
	return clientAddrRE.ReplaceAllStringFunc(s, func(m string) string {
		host := m
		if ap, err := netip.ParseAddrPort(m); err == nil {
			host = ap.Addr().String()
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return "[address]"
		}
		addr = addr.WithZone("").Unmap()
		bits := 24
		if addr.Is6() {
			bits = 48
		}
		prefix, err := addr.Prefix(bits)
		if err != nil {
			return "[address]"
		}
		return prefix.String()
	})
}
