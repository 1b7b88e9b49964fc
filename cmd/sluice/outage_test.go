package main_test

// A PostgreSQL outage, simulated with a TCP proxy between sluice and the
// database.

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// tcpProxy forwards loopback connections to a target address. cut closes
// every connection through it and makes it drop new ones until resume: to
// the process behind it, the database went away and came back, as in a
// restart, while the database itself and everyone else using it carry on.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{} // both ends of every live connection
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			client.Close() // the client sees its connection reset at once
			continue
		}
		p.wg.Go(func() { p.forward(client) })
	}
}

func (p *tcpProxy) forward(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var both sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Either side ending ends the connection, as a dead server would.
		dst.Close()
		src.Close()
	}
	both.Go(func() { pipe(server, client) })
	both.Go(func() { pipe(client, server) })
	both.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// cut closes every connection and drops new ones until resume.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.closeAll()
}

func (p *tcpProxy) resume() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// healthz returns the status of GET /healthz, 0 if it could not be asked.
func healthz(p *proc) int {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(p.url + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A process rides out a database outage: /healthz says 503 while the
// database is gone and 200 once it is back; deliveries in flight when it
// went away and events still waiting are delivered after it is back, as are
// events acknowledged before and after; and the process never exits.
//
// The outage is simulated: restarting the shared PostgreSQL would break
// the other packages' tests that run against it at the same time. Instead
// the process reaches the database through tcpProxy, and cutting the proxy
// looks to the process like the server going down — every connection it
// holds (pool, LISTEN, advisory locks) is reset and new ones fail — and
// resuming it like the server coming back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	db := c.base.Host
	if c.base.Port() == "" {
		db = net.JoinHostPort(c.base.Hostname(), "5432")
	}
	proxy := newTCPProxy(t, db)
	p := c.start(t, proxy.addr())
	c.requireMigratedSchema(t)
	rcv := newReceiver(t)
	c.createDestination(t, p, rcv)
	target := func(int) *proc { return p }

	before, failed := publishRoundRobin(c.token, 50, 4, target)
	if failed > 0 {
		t.Fatalf("%d of 50 publishes failed before the outage", failed)
	}
	if missing := rcv.waitFor(before, 30*time.Second); missing > 0 {
		t.Fatalf("%d of %d events not delivered before the outage", missing, len(before))
	}

	// Hold the next deliveries at the receiver, so that the outage begins
	// with attempts in flight (their results cannot be recorded) and events
	// still waiting to be claimed.
	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce sync.Once
	rcv.mu.Lock()
	rcv.onArrive = func(int) {
		holdOnce.Do(func() { close(held) })
		<-release
	}
	rcv.mu.Unlock()
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	pending, failed := publishRoundRobin(c.token, 40, 4, target)
	if failed > 0 {
		t.Fatalf("%d of 40 publishes failed before the outage", failed)
	}
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}

	logAtCut := len(p.log())
	proxy.cut()
	cutAt := time.Now()
	testkit.WaitFor(t, 15*time.Second, func() bool {
		return healthz(p) == http.StatusServiceUnavailable
	}, func() string { return "waiting for /healthz to answer 503 during the outage" })
	t.Logf("/healthz answered 503 %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	// Keep the database away until the process has noticed it everywhere:
	// its claim loop failed a few polls and its work notifications broke.
	testkit.WaitFor(t, 15*time.Second, func() bool {
		since := p.log()[logAtCut:]
		return strings.Count(since, `msg="claim deliveries"`) >= 3 && strings.Contains(since, "work notifications")
	}, func() string { return "waiting for the dispatcher to fail claims during the outage" })
	// Publishes during the outage fail (5xx, not acknowledged); any that
	// were acknowledged must be delivered like the others.
	during, failedDuring := publishRoundRobin(c.token, 20, 4, target)
	t.Logf("during the outage: %d publishes acknowledged, %d refused", len(during), failedDuring)
	// The held attempts end now; wait until the process failed to record
	// one, so the outage loses a result it must make up for later.
	close(release)
	testkit.WaitFor(t, 15*time.Second, func() bool {
		return strings.Contains(p.log()[logAtCut:], `msg="record attempt"`)
	}, func() string { return "waiting for an attempt's result to go unrecorded" })

	proxy.resume()
	resumedAt := time.Now()
	testkit.WaitFor(t, 30*time.Second, func() bool {
		return healthz(p) == http.StatusOK
	}, func() string { return "waiting for /healthz to answer 200 after the outage" })
	t.Logf("the outage lasted %s; /healthz answered 200 %s after the database came back",
		resumedAt.Sub(cutAt).Round(time.Millisecond), time.Since(resumedAt).Round(time.Millisecond))

	after, failed := publishRoundRobin(c.token, 50, 4, target)
	if failed > 0 {
		t.Errorf("%d of 50 publishes failed after the outage", failed)
	}
	var all []string
	for _, ids := range [][]string{before, pending, during, after} {
		all = append(all, ids...)
	}
	if missing := rcv.waitFor(all, 30*time.Second); missing > 0 {
		t.Fatalf("%d of %d acknowledged events never delivered\n%s", missing, len(all), p.log())
	}
	t.Logf("all %d acknowledged events delivered %s after the database came back", len(all), time.Since(resumedAt).Round(time.Millisecond))

	// What the outage kept from being recorded is done again once the
	// leases end: in the end every delivery is recorded as succeeded.
	unsettled := map[string]bool{}
	for _, id := range all {
		unsettled[id] = true
	}
	testkit.WaitFor(t, 30*time.Second, func() bool {
		for id := range unsettled {
			var res struct {
				Data []struct{ Status string }
			}
			if callNoFail("GET", p.url+"/v1/events/"+id+"/deliveries", c.token, nil, &res) == http.StatusOK &&
				len(res.Data) == 1 && res.Data[0].Status == "succeeded" {
				delete(unsettled, id)
			}
		}
		return len(unsettled) == 0
	}, func() string { return "waiting for every delivery recorded as succeeded" })
	select {
	case err := <-p.done:
		t.Fatalf("sluice exited during the outage: %v\n%s", err, p.log())
	default:
	}
	stopSluice(t, p)
}
