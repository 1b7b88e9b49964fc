package bench

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// baseline is a bare net/http server on loopback that reads each request's
// body and answers 202 with a small JSON id, and does nothing else: no
// parsing, no storage, no delivery. The same load against it is the
// ceiling of what HTTP does on this machine, the yardstick Sluice's
// figures are read against.
type baseline struct {
	ln  net.Listener
	srv *http.Server
	n   atomic.Int64
}

func startBaseline() (*baseline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &baseline{ln: ln}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.accept), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// accept answers like the gateway's publish endpoint, less the work.
func (b *baseline) accept(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	body := make([]byte, 0, 32)
	body = append(body, `{"id":"evt_`...)
	body = strconv.AppendInt(body, b.n.Add(1), 10)
	body = append(body, "\"}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(body)
}

func (b *baseline) url() string { return "http://" + b.ln.Addr().String() }

// close stops the server at once: the load is over, and its client's idle
// connections would only hold a graceful shutdown up.
func (b *baseline) close() { _ = b.srv.Close() }
