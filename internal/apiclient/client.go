// Package apiclient is a small typed client for the AIAS user API (the routes and documents
// of internal/userapi/types.go). The CLI uses it; it authenticates with a Kubernetes
// bearer token, so what a caller may see is exactly what the server's RBAC checks allow.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls one user API server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the user API at baseURL (scheme, host and an optional path
// prefix, e.g. "https://aias.example.com" or "http://127.0.0.1:8081"). token is sent as
// `Authorization: Bearer <token>`. A nil httpClient means http.DefaultClient; give it no
// overall Timeout when following logs or downloading large artifacts, and bound single
// calls with their context instead. A 429 with a Retry-After of at most 30 s is waited out
// and tried again, up to five times.
func New(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("user API URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("user API URL %q: want http(s)://host[:port]", baseURL)
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: u, token: token, http: withRateRetries(httpClient)}, nil
}

// APIError is an answer other than 2xx. Message and Reason come from the server's
// {"error","reason"} document when it sent one.
type APIError struct {
	StatusCode int
	Reason     string
	Message    string
}

// Error reads like kubectl's: "Error from server (Forbidden): ...".
func (e *APIError) Error() string {
	return fmt.Sprintf("Error from server (%s): %s", e.Reason, e.Message)
}

// IsStatus reports whether err is an *APIError with the given HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}

// reasons fills in a Reason when the server (or a proxy in front of it) sent none; the
// names are the contract's.
var reasons = map[int]string{
	http.StatusBadRequest:         "BadRequest",
	http.StatusUnauthorized:       "Unauthorized",
	http.StatusForbidden:          "Forbidden",
	http.StatusNotFound:           "NotFound",
	http.StatusConflict:           "Conflict",
	http.StatusServiceUnavailable: "Unavailable",
}

// errorFrom reads a non-2xx response into an *APIError. Bodies that are not the
// contract's JSON (a proxy's HTML page) still give a short, readable message.
func errorFrom(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var doc struct{ Error, Reason string }
	_ = json.Unmarshal(body, &doc)
	e := &APIError{StatusCode: resp.StatusCode, Reason: doc.Reason, Message: doc.Error}
	if e.Reason == "" {
		if e.Reason = reasons[resp.StatusCode]; e.Reason == "" {
			e.Reason = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
		}
		if e.Reason == "" {
			e.Reason = fmt.Sprintf("HTTP%d", resp.StatusCode)
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 || strings.HasPrefix(e.Message, "<") {
			e.Message = ""
		}
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return e
}

// newRequest builds an authenticated request for path (already escaped) and query.
func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values) (*http.Request, error) {
	target := c.base.String() + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends a request and decodes a 2xx JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	return c.doWith(ctx, method, path, q, nil, nil, out)
}

// doWith is do with a JSON body (when not nil) and extra headers.
func (c *Client) doWith(ctx context.Context, method, path string, q url.Values, body any, header http.Header, out any) error {
	req, err := c.newRequest(ctx, method, path, q)
	if err != nil {
		return err
	}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(raw))
		req.ContentLength = int64(len(raw))
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFrom(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}
