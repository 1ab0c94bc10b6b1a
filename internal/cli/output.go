package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// Output formats of the read commands: the default table, or the API's own documents.
const (
	outputTable = ""
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputName  = "name"
)

// checkOutput refuses a format the command cannot print, before any request is made.
func checkOutput(format string, allowed ...string) error {
	if format == outputTable {
		return nil
	}
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return usageErrorf("unsupported output format %q (allowed: %s)", format, strings.Join(allowed, ", "))
}

// printDocument prints an API document as JSON (indented, like kubectl) or YAML.
func printDocument(w io.Writer, format string, doc any) error {
	switch format {
	case outputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "    ")
		return enc.Encode(doc)
	case outputYAML:
		b, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unsupported output format %q", format)
}

// newTable is kubectl's table writer: columns padded by three spaces.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
}

// row writes one tab-separated table row; an empty cell prints as "-" so columns stay
// readable when a value is missing.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
		// A tab or newline inside a cell (a message) would break the table.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(cells[i])
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// age is the AGE column in kubectl's short form: 5s, 3m, 2h, 4d, 2y (one unit, so the
// column stays narrow and sorts by eye).
func age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration.ShortHumanDuration(now.Sub(t))
}

// elapsed formats a run's or step's duration: tenths of a second below 10s when the
// figure has them (steps are often that quick), else kubectl's Job DURATION form
// (2s, 75s, 3m20s, 3h).
func elapsed(d time.Duration) string {
	if d < 0 {
		return ""
	}
	// Whole seconds print as such: Kubernetes timestamps have second precision, and
	// "1.0s" would claim a tenth it does not know.
	if d > 0 && d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds()) // step-run's measured run time of a quick step
	}
	if d < 10*time.Second && d%time.Second != 0 {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return duration.HumanDuration(d)
}

// span is the DURATION cell: the server's figure once finished, the time so far while
// running, nothing before the start.
func span(seconds *float64, start, end *time.Time, now time.Time) string {
	switch {
	case seconds != nil:
		return elapsed(time.Duration(*seconds * float64(time.Second)))
	case start == nil:
		return ""
	case end != nil:
		return elapsed(end.Sub(*start))
	default:
		return elapsed(now.Sub(*start))
	}
}

// shortDigest keeps a digest readable in a table: the algorithm and 12 hex digits, as
// container tools show image ids. -o json prints the whole value.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

// humanBytes is a size in binary units: 512B, 1.5KiB, 3.0MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// timestamp prints an instant for the describe view: RFC 3339 in UTC and how long ago.
func timestamp(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(*t, now))
}
