package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aias-dev/aias/internal/apiclient"

	"github.com/aias-dev/aias/internal/userapi"
)

const artifactsSynopsis = `artifacts [list] <run> [-n namespace] [-o json|yaml]
       %[1]s artifacts get <run> <step>/<name> [--attempt n] [-o file|-] [-n namespace]`

// runArtifacts is `aias artifacts <run>` (a table of the Run's outputs) and
// `aias artifacts get <run> <step>/<name>` (one output's bytes, checked against its digest).
func runArtifacts(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "get":
			return getArtifact(ctx, args[1:])
		case "list", "ls":
			args = args[1:]
		}
	}
	var conn connFlags
	var output string
	fs := newFlags("artifacts", fmt.Sprintf(artifactsSynopsis, progName()))
	conn.register(fs)
	fs.StringVar(&output, "o", "", "output format: json or yaml (default: a table)")
	fs.StringVar(&output, "output", "", "same as -o")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<run>"); err != nil {
		return err
	}
	if err := checkOutput(output, outputJSON, outputYAML); err != nil {
		return err
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	list, err := c.Artifacts(callCtx, ns, strings.TrimPrefix(pos[0], "run/"))
	if err != nil {
		return err
	}
	if output != outputTable {
		return printDocument(os.Stdout, output, list)
	}
	if len(list.Items) == 0 {
		fmt.Fprintf(os.Stderr, "No artifacts found for run %s in %s namespace.\n", pos[0], ns)
		return nil
	}
	return artifactsTable(os.Stdout, list.Items, time.Now())
}

// artifactsTable prints STEP ATTEMPT NAME SIZE TYPE DIGEST AGE.
func artifactsTable(out io.Writer, items []userapi.ArtifactInfo, now time.Time) error {
	tw := newTable(out)
	row(tw, "STEP", "ATTEMPT", "NAME", "SIZE", "TYPE", "DIGEST", "AGE")
	for _, a := range items {
		row(tw, a.Step, strconv.Itoa(a.Attempt), a.Name, humanBytes(a.Size), a.ContentType, shortDigest(a.Digest), age(a.CreatedAt, now))
	}
	return tw.Flush()
}

// getArtifact downloads one artifact to stdout or a file, hashing the bytes on the way:
// artifacts are content-addressed, so anything but the advertised sha256 is corruption
// (or tampering) and the command fails. A file is only put in place once verified.
func getArtifact(ctx context.Context, args []string) error {
	var conn connFlags
	var output string
	var attempt int
	fs := newFlags("artifacts get", "artifacts get <run> <step>/<name> [--attempt n] [-o file|-] [-n namespace]")
	conn.register(fs)
	fs.StringVar(&output, "o", "-", "write the content to this file; - is stdout")
	fs.StringVar(&output, "output", "-", "same as -o")
	fs.IntVar(&attempt, "attempt", 0, "the step attempt (default: the latest)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<run>", "<step>/<name>"); err != nil {
		return err
	}
	run := strings.TrimPrefix(pos[0], "run/")
	step, name, ok := strings.Cut(pos[1], "/")
	if !ok || step == "" || name == "" {
		return usageErrorf("%q: want <step>/<name>, e.g. parse/result", pos[1])
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	dl, err := c.DownloadArtifact(ctx, ns, run, step, name, apiclient.DownloadOptions{Attempt: attempt})
	if err != nil {
		return err
	}
	defer dl.Body.Close()
	want := dl.Digest
	if !strings.HasPrefix(want, "sha256:") {
		// No usable ETag (a proxy may strip it): the listing carries the digest too.
		if want, err = listedDigest(ctx, c, ns, run, step, name, attempt); err != nil {
			return err
		}
	}

	if output == "-" || output == "" {
		got, _, err := hashCopy(os.Stdout, dl.Body)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("DIGEST MISMATCH for %s/%s of run %s: received %s, the server's digest is %s: "+
				"the bytes written to stdout are corrupt, discard them", step, name, run, got, want)
		}
		return nil
	}

	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	got, n, err := hashCopy(tmp, dl.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("DIGEST MISMATCH for %s/%s of run %s: received %s, the server's digest is %s: nothing was written to %s",
			step, name, run, got, want, output)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s/%s (%s, %s) written to %s\n", step, name, humanBytes(n), want, output)
	return nil
}

// hashCopy copies src to dst and returns the "sha256:<hex>" and size of what it copied.
func hashCopy(dst io.Writer, src io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), src)
	if err != nil {
		return "", n, fmt.Errorf("downloading: %w", err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// listedDigest finds an artifact's digest in the Run's artifact list: the given attempt,
// else the latest one.
func listedDigest(ctx context.Context, c *apiclient.Client, ns, run, step, name string, attempt int) (string, error) {
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	list, err := c.Artifacts(callCtx, ns, run)
	if err != nil {
		return "", err
	}
	best := -1
	digest := ""
	for _, a := range list.Items {
		if a.Step == step && a.Name == name && (attempt == 0 || a.Attempt == attempt) && a.Attempt > best {
			best, digest = a.Attempt, a.Digest
		}
	}
	if digest == "" {
		return "", fmt.Errorf("cannot verify %s/%s: the server sent no ETag and does not list the artifact", step, name)
	}
	return digest, nil
}
