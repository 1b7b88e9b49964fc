package deliver_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/safehttp"
)

// With the default (strict) Policy, the default client refuses to connect
// to a loopback receiver: the attempt fails as "blocked" and nothing
// reaches the receiver.
// wantBlocked publishes an event to the bundle's destinations and runs a
// dispatcher with the default address policy, which must refuse the
// loopback destination its one attempt: exhausted, error class blocked.
func (b *testBundle) wantBlocked(t *testing.T) {
	t.Helper()
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	d, err := deliver.New(deliver.Config{Store: b.store, RetrySchedule: []time.Duration{0},
		Timeout: 2 * time.Second, Lease: 5 * time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
	assertAttempts(t, b.attempts(t, ev.ID), failed(0, deliver.ErrClassBlocked))
}

func TestDefaultPolicyRefusesLoopback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, http.StatusOK)
	b.destination(t, recv.URL)
	b.wantBlocked(t)
	if n := len(recv.received()); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

// rebindingResolver is DNS that answers the creation-time check with a
// public address.
type rebindingResolver struct{}

func (rebindingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
}

// DNS rebinding: the destination's name resolves to a public address when
// it is checked, and to loopback when the delivery connects. The check at
// connect time sees the address actually dialed and refuses it.
func TestDNSRebindingRefusedAtConnect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, http.StatusOK)
	_, port, err := net.SplitHostPort(recv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const host = "hooks.rebind.test"
	strict := safehttp.Policy{}
	if err := strict.CheckHost(b.ctx, rebindingResolver{}, host); err != nil {
		t.Fatalf("creation-time check of %s: %v, want it accepted", host, err)
	}

	// At connect time the name now resolves to 127.0.0.1: the transport
	// substitutes that answer and hands the address to the strict dialer,
	// as the resolver inside net.Dialer would.
	dial := strict.DialContext(&net.Dialer{Timeout: time.Second})
	client := &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			h, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if h == host {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return dial(ctx, network, addr)
		},
	}}
	b.destination(t, (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/hook"}).String())
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	b.start(t, deliver.Config{Client: client})

	b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
	assertAttempts(t, b.attempts(t, ev.ID), failed(0, deliver.ErrClassBlocked))
	if n := len(recv.received()); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}
