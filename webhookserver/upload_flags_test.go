package webhookserver

import (
	"testing"
	"time"

	"github.com/aias-dev/aias/webhookserver/stepapi"
)

// The upload bounds and the pool size are flags: the defaults are
// stepapi.DefaultUploadLimits (and 0, pgxpool's pool size); a bound of zero or less, or a
// spool smaller than the largest artifact, is refused.
func TestUploadFlags(t *testing.T) {
	base := []string{"--database-url=postgres://x", "--step-token-key-file=/k"}
	o, err := ParseFlags(base)
	if err != nil {
		t.Fatal(err)
	}
	if o.Uploads != stepapi.DefaultUploadLimits() || o.DatabaseMaxConns != 0 {
		t.Errorf("defaults %+v, pool %d; want %+v and 0", o.Uploads, o.DatabaseMaxConns, stepapi.DefaultUploadLimits())
	}
	o, err = ParseFlags(append(base, "--upload-timeout=2m", "--max-uploads-per-attempt=2", "--max-uploads-per-namespace=9",
		"--upload-spool-dir=/spool", "--upload-spool-bytes=3221225472", "--upload-spool-memory-bytes=1048576", "--database-max-conns=12"))
	if err != nil {
		t.Fatal(err)
	}
	want := stepapi.UploadLimits{Timeout: 2 * time.Minute, PerAttempt: 2, PerNamespace: 9, SpoolDir: "/spool", SpoolBytes: 3 << 30, SpoolMemoryBytes: 1 << 20}
	if o.Uploads != want || o.DatabaseMaxConns != 12 {
		t.Errorf("flags not applied: %+v, pool %d", o.Uploads, o.DatabaseMaxConns)
	}
	for _, bad := range []string{"--upload-timeout=0", "--max-uploads-per-attempt=0", "--max-uploads-per-namespace=-1",
		"--upload-spool-bytes=0", "--upload-spool-memory-bytes=0", "--upload-spool-bytes=1048576", "--database-max-conns=-1"} {
		if _, err := ParseFlags(append(base, bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
