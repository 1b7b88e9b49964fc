package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// requestTimeout bounds one request; a slower answer counts as a "timeout"
// error.
const requestTimeout = 30 * time.Second

// client sends requests to one base URL over keep-alive connections. The
// baseline and the gateway get clients with the same settings, so the
// difference between their figures is the server's.
type client struct {
	base  string
	token string // admin token for the API calls that set the run up
	http  *http.Client
}

// newClient keeps up to conns idle connections: one per request that can
// be in flight, so none is closed and dialled again between requests.
func newClient(base, token string, conns int) *client {
	transport := &http.Transport{
		Proxy:               nil, // a benchmark measures the gateway, not a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
	}
	return &client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  &http.Client{Transport: transport, Timeout: requestTimeout},
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// do sends one request and returns the status and at most 64 KiB of the
// response body, read to the end so the connection is reused.
func (c *client) do(ctx context.Context, method, path string, header http.Header, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if header != nil {
		req.Header = header
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, data, err
}

// admin sends an API call with the admin token and returns its answer,
// failing unless the status is want.
func (c *client) admin(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	h := http.Header{"Authorization": {"Bearer " + c.token}}
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
		h.Set("Content-Type", "application/json")
	}
	status, resp, err := c.do(ctx, method, path, h, data)
	if err != nil {
		return nil, err
	}
	if status != want {
		return nil, apiError(status, resp)
	}
	return resp, nil
}

// create posts body to path, expecting 201 Created, and returns the new
// resource's id.
func (c *client) create(ctx context.Context, path string, body any) (string, error) {
	resp, err := c.admin(ctx, http.MethodPost, path, body, http.StatusCreated)
	if err != nil {
		return "", err
	}
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || r.ID == "" {
		return "", errors.New("HTTP 201 without an id")
	}
	return r.ID, nil
}

// remove deletes the resource at path.
func (c *client) remove(ctx context.Context, path string) error {
	status, resp, err := c.do(ctx, http.MethodDelete, path, http.Header{"Authorization": {"Bearer " + c.token}}, nil)
	if err != nil {
		return err
	}
	if status != http.StatusNoContent && status != http.StatusOK {
		return apiError(status, resp)
	}
	return nil
}

// send posts one event and returns the id the answer names, or the class
// of the failure: "http_<status>", "timeout", "connect" or "other". The
// publish answer names the id "id" and the ingest answer "event_id"; either
// will do, so the baseline's one answer serves every scenario.
func (c *client) send(ctx context.Context, path string, header http.Header, body []byte) (id, errClass string) {
	status, resp, err := c.do(ctx, http.MethodPost, path, header, body)
	if err != nil {
		return "", classify(err)
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		return "", "http_" + strconv.Itoa(status)
	}
	var e struct {
		ID      string `json:"id"`
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(resp, &e); err != nil || cmp.Or(e.EventID, e.ID) == "" {
		return "", "other"
	}
	return cmp.Or(e.EventID, e.ID), ""
}

// classify names the class of a transport error.
func classify(err error) string {
	if opErr, ok := errors.AsType[*net.OpError](err); ok && opErr.Op == "dial" {
		return "connect"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
		return "timeout"
	}
	return "other"
}

// httpError is an unexpected answer to an API call.
type httpError struct {
	status        int
	code, message string // from the API's error shape, when the body has it
}

func (e *httpError) Error() string {
	if e.code == "" {
		return fmt.Sprintf("HTTP %d", e.status)
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.status, e.code, e.message)
}

// apiError describes an unexpected answer.
func apiError(status int, body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return &httpError{status: status, code: e.Error.Code, message: e.Error.Message}
}
