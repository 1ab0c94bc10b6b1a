package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aias-dev/aias/internal/userapi"
)

// Artifacts lists a Run's stored outputs, by step, attempt and name.
func (c *Client) Artifacts(ctx context.Context, ns, run string) (*userapi.ArtifactList, error) {
	out := &userapi.ArtifactList{}
	return out, c.do(ctx, http.MethodGet, userapi.ArtifactsPath(ns, run), nil, out)
}

// DownloadOptions select an attempt and a byte range; zero values mean the latest
// attempt and the whole content.
type DownloadOptions struct {
	Attempt int
	// Range is an HTTP Range header value, e.g. "bytes=0-1023".
	Range string
}

// Download is an artifact's content on its way. The caller must close Body.
type Download struct {
	Body io.ReadCloser
	// StatusCode is 200, or 206 for a satisfied Range.
	StatusCode         int
	ContentType        string
	ContentDisposition string
	ContentRange       string
	// Size is the Content-Length, -1 when the server did not send one.
	Size int64
	// ETag is the header as sent; Digest is its value unquoted ("sha256:<hex>"), the
	// artifact's content address, which the caller should check the bytes against.
	ETag   string
	Digest string
}

// DownloadArtifact fetches the content of one artifact of one step.
func (c *Client) DownloadArtifact(ctx context.Context, ns, run, step, name string, opts DownloadOptions) (*Download, error) {
	q := url.Values{}
	if opts.Attempt > 0 {
		q.Set("attempt", strconv.Itoa(opts.Attempt))
	}
	req, err := c.newRequest(ctx, http.MethodGet, userapi.ArtifactPath(ns, run, step, name), q)
	if err != nil {
		return nil, err
	}
	if opts.Range != "" {
		req.Header.Set("Range", opts.Range)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		defer resp.Body.Close()
		return nil, errorFrom(resp)
	}
	etag := resp.Header.Get("ETag")
	return &Download{
		Body:               resp.Body,
		StatusCode:         resp.StatusCode,
		ContentType:        resp.Header.Get("Content-Type"),
		ContentDisposition: resp.Header.Get("Content-Disposition"),
		ContentRange:       resp.Header.Get("Content-Range"),
		Size:               resp.ContentLength,
		ETag:               etag,
		Digest:             DigestFromETag(etag),
	}, nil
}

// DigestFromETag unquotes an ETag (strong or weak) into the digest it carries.
func DigestFromETag(etag string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(etag), "W/"), `"`)
}
