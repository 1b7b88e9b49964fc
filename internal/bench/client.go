package bench

import (
	"bytes"
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

// requestTimeout bounds one API request; a slower answer counts as a
// "timeout" error.
const requestTimeout = 30 * time.Second

// apiClient calls the gateway's JSON API with a bearer token over
// keep-alive connections, one per publisher.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(base, token string, conns int) *apiClient {
	transport := &http.Transport{
		Proxy:               nil, // a benchmark measures the gateway, not a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
	}
	return &apiClient{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  &http.Client{Transport: transport, Timeout: requestTimeout},
	}
}

func (c *apiClient) close() { c.http.CloseIdleConnections() }

// do sends one request and returns the status and at most 64 KiB of the
// response body, read to the end so the connection is reused.
func (c *apiClient) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
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

// createDestination registers the receiver for bench.* events and returns
// the destination's id.
func (c *apiClient) createDestination(ctx context.Context, url string) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": "bench", "url": url, "event_types": []string{"bench.*"}})
	status, resp, err := c.do(ctx, http.MethodPost, "/v1/destinations", body)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		err := apiError(status, resp)
		if status == http.StatusBadRequest {
			err = fmt.Errorf("%w (the gateway must allow private destinations: --allow-private-destinations)", err)
		}
		return "", err
	}
	var d struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp, &d); err != nil || d.ID == "" {
		return "", fmt.Errorf("HTTP %d without a destination id", status)
	}
	return d.ID, nil
}

func (c *apiClient) deleteDestination(ctx context.Context, id string) error {
	status, resp, err := c.do(ctx, http.MethodDelete, "/v1/destinations/"+id, nil)
	if err != nil {
		return err
	}
	if status != http.StatusNoContent && status != http.StatusOK {
		return apiError(status, resp)
	}
	return nil
}

// publish posts one event and returns its id, or the class of the failure:
// "http_<status>", "timeout", "connect" or "other".
func (c *apiClient) publish(ctx context.Context, body []byte) (id, errClass string) {
	status, resp, err := c.do(ctx, http.MethodPost, "/v1/events", body)
	if err != nil {
		return "", classify(err)
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		return "", "http_" + strconv.Itoa(status)
	}
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp, &e); err != nil || e.ID == "" {
		return "", "other"
	}
	return e.ID, ""
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

// apiError describes an unexpected answer using the API's error shape when
// the body has it.
func apiError(status int, body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("HTTP %d %s: %s", status, e.Error.Code, e.Error.Message)
	}
	return fmt.Errorf("HTTP %d", status)
}
