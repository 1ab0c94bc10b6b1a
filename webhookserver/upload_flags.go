package webhookserver

import (
	"errors"
	"flag"

	"github.com/aias-dev/aias/webhookserver/stepapi"
)

// registerUploadFlags declares the bounds of the internal step API's artifact uploads
// (docs/security.md, "Step API bounds").
func registerUploadFlags(fs *flag.FlagSet, u *stepapi.UploadLimits) {
	d := stepapi.DefaultUploadLimits()
	fs.DurationVar(&u.Timeout, "upload-timeout", d.Timeout, "longest one artifact upload may take, body and store write included (408 UploadTimeout past it)")
	fs.IntVar(&u.PerAttempt, "max-uploads-per-attempt", d.PerAttempt, "most artifact uploads of one step attempt in flight at once (429 TooManyUploads past it)")
	fs.IntVar(&u.PerNamespace, "max-uploads-per-namespace", d.PerNamespace, "most artifact uploads of one namespace in flight at once (429 TooManyNamespaceUploads past it)")
	fs.StringVar(&u.SpoolDir, "upload-spool-dir", "", "directory of the temporary files uploads are read into before they are stored (default: the system's temporary directory)")
	fs.Int64Var(&u.SpoolBytes, "upload-spool-bytes", d.SpoolBytes, "most bytes of uploads held in temporary files at once (503 SpoolFull past it); at least --max-artifact-bytes")
	fs.Int64Var(&u.SpoolMemoryBytes, "upload-spool-memory-bytes", d.SpoolMemoryBytes, "most bytes of uploads held in memory at once (each holds at most 1 MiB; past it uploads go to files)")
}

// checkUploadFlags refuses bounds given as zero or less (none can be turned off), and a
// spool too small for the largest artifact, which could never be uploaded.
func checkUploadFlags(u stepapi.UploadLimits, maxArtifactBytes int64) error {
	if u.Timeout <= 0 || u.PerAttempt <= 0 || u.PerNamespace <= 0 || u.SpoolBytes <= 0 || u.SpoolMemoryBytes <= 0 {
		return errors.New("--upload-timeout, --max-uploads-per-attempt, --max-uploads-per-namespace, --upload-spool-bytes and --upload-spool-memory-bytes must be positive")
	}
	if maxArtifactBytes > u.SpoolBytes {
		return errors.New("--upload-spool-bytes must be at least --max-artifact-bytes")
	}
	return nil
}
