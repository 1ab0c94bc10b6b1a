package stepapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

// readBlob is the stored content of digest.
func readBlob(t testing.TB, digest string) []byte {
	t.Helper()
	r, _, err := testStore.OpenBlob(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trickle is an upload body that sends head at once, then step bytes every interval
// until stopped (then it ends, and the upload with it).
type trickle struct {
	pr   *io.PipeReader
	stop chan struct{}
	done chan struct{}
	sent int
}

func newTrickle(head []byte, step []byte, interval time.Duration) *trickle {
	pr, pw := io.Pipe()
	tr := &trickle{pr: pr, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		if n, err := pw.Write(head); err != nil {
			return
		} else {
			tr.sent += n
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-tr.stop:
				_ = pw.Close()
				return
			case <-tick.C:
				n, err := pw.Write(step)
				tr.sent += n
				if err != nil {
					return
				}
			}
		}
	}()
	return tr
}

// end stops the trickle and returns how many bytes it sent.
func (tr *trickle) end() int {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	<-tr.done
	return tr.sent
}

// uploadResult is an upload's answer.
type uploadResult struct {
	code       int
	body       map[string]any
	retryAfter string
	err        error
}

// startUpload PUTs body as artifact name of at in the background.
func startUpload(srvURL string, at attempt, name string, body io.Reader) <-chan uploadResult {
	res := make(chan uploadResult, 1)
	go func() {
		req := at.request(http.MethodPut, srvURL, stepjob.PathArtifacts+name, "application/octet-stream", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- uploadResult{err: err}
			return
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		res <- uploadResult{code: resp.StatusCode, body: out, retryAfter: resp.Header.Get("Retry-After")}
	}()
	return res
}

// decodeBody reads a JSON answer and closes it.
func decodeBody(resp *http.Response) map[string]any {
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}
