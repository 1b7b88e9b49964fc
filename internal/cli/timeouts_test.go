package cli

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// closeLimit is how long a test waits for the server to drop a connection
// whose timeout is a fraction of it.
const closeLimit = 5 * time.Second

// readUntilClosed reads r (from conn) until the server closes the
// connection and fails the test if it is still open after closeLimit.
func readUntilClosed(t *testing.T, conn net.Conn, r io.Reader) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(closeLimit)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, r) // nil at EOF; a reset is a close too
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept the connection open for %s", closeLimit)
	}
}

// getHealthzPlain asks /healthz over plain HTTP on a new connection.
func getHealthzPlain(t *testing.T, url string) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}, Timeout: closeLimit}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A client that starts a request and never finishes its headers is cut off
// after the read-header timeout, and others are served meanwhile.
func TestSlowHeaderClientIsCutOff(t *testing.T) {
	t.Parallel()
	timeouts := defaultTimeouts
	timeouts.readHeader = 200 * time.Millisecond
	srv, _ := startTestServer(t, nil, timeouts)

	start := time.Now() // before the dial, so the server's clock starts later
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	if code := getHealthzPlain(t, srv.URL()); code != http.StatusOK {
		t.Fatalf("GET /healthz beside a slow client: %d, want 200", code)
	}
	readUntilClosed(t, conn, conn)
	elapsed := time.Since(start)
	if elapsed < timeouts.readHeader {
		t.Fatalf("closed after %s, before the %s read-header timeout", elapsed, timeouts.readHeader)
	}
	t.Logf("slow-header connection closed after %s", elapsed)
	if code := getHealthzPlain(t, srv.URL()); code != http.StatusOK {
		t.Fatalf("GET /healthz after cutting off a slow client: %d, want 200", code)
	}
}

// A keep-alive connection left idle is closed after the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	t.Parallel()
	timeouts := defaultTimeouts
	timeouts.idle = 200 * time.Millisecond
	srv, _ := startTestServer(t, nil, timeouts)

	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /healthz: %d, close %t; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	readUntilClosed(t, conn, br)
	t.Logf("idle connection closed after %s", time.Since(start))
}
