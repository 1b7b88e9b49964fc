package postgres_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/testkit"
)

// pgProxy forwards loopback connections to the test database, so that a
// test can break a driver's connections without touching the database:
// cut closes those open, refuse turns new ones away, and with dropCancels
// it swallows cancel requests (pgx sends one as it closes a broken
// connection, which would end a statement the test keeps waiting).
type pgProxy struct {
	ln     net.Listener
	target string

	mu          sync.Mutex
	refusing    bool
	dropCancels bool
	conns       map[net.Conn]struct{} // both ends of every open connection
	wg          sync.WaitGroup
}

func newPGProxy(t *testing.T) *pgProxy {
	t.Helper()
	u, err := url.Parse(testkit.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

// url returns the database URL with the proxy in place of the server.
func (p *pgProxy) url(raw string) string {
	u, _ := url.Parse(raw)
	u.Host = p.ln.Addr().String()
	return u.String()
}

// cancelRequestCode opens a cancel request where a startup message has
// its protocol version.
const cancelRequestCode = 80877102

func (p *pgProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		p.wg.Go(func() { p.forward(client) })
	}
}

func (p *pgProxy) forward(client net.Conn) {
	var head [8]byte
	if _, err := io.ReadFull(client, head[:]); err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	drop := p.refusing || p.dropCancels && binary.BigEndian.Uint32(head[4:]) == cancelRequestCode
	p.mu.Unlock()
	if drop {
		client.Close()
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, client)
		delete(p.conns, server)
		p.mu.Unlock()
		client.Close()
		server.Close()
	}()
	if _, err := server.Write(head[:]); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done
}

// cut closes every connection open through the proxy, at both ends, and
// returns how many there were.
func (p *pgProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	return len(p.conns) / 2
}

// refuse turns new connections away, or lets them through again.
func (p *pgProxy) refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = on
}

// dropCancelRequests swallows every cancel request from now on.
func (p *pgProxy) dropCancelRequests() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropCancels = true
}
