package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

// runLogsFixture stores perStream lines in each stream of steps a, b, c × attempts 1–3
// (27 streams), lineBytes bytes each. Stream b/2/stderr's clock runs backwards: each of
// its lines is stamped earlier than the one before.
func runLogsFixture(t *testing.T, perStream, lineBytes int) (uid string, keys []LogKey) {
	t.Helper()
	ctx := context.Background()
	uid = newUID(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for _, step := range []string{"a", "b", "c"} {
		for attempt := 1; attempt <= 3; attempt++ {
			var lines []stepjob.LogLine
			for si, stream := range LogStreams {
				keys = append(keys, LogKey{Step: step, Attempt: attempt, Stream: stream})
				for seq := 1; seq <= perStream; seq++ {
					ts := base.Add(time.Duration(seq*10+si) * time.Millisecond)
					if step == "b" && attempt == 2 && stream == stepjob.StreamStderr {
						ts = base.Add(time.Duration((perStream-seq)*10) * time.Millisecond)
					}
					text := fmt.Sprintf("%s/%d/%s/%d ", step, attempt, stream, seq)
					text += strings.Repeat("x", max(0, lineBytes-len(text)))
					lines = append(lines, stepjob.LogLine{Stream: stream, Seq: int64(seq), Time: ts, Line: text})
				}
			}
			if _, err := testStore.AppendLogs(ctx, LogTarget{Namespace: "acme", RunUID: uid, Step: step, Attempt: attempt}, lines); err != nil {
				t.Fatal(err)
			}
		}
	}
	return uid, keys
}

// readPage reads one page: its lines, whole, and whether more may follow.
func readPage(t *testing.T, uid string, keys []LogKey, p RunLogPage) ([]RunLogLine, bool) {
	t.Helper()
	ctx := context.Background()
	refs, more, err := testStore.PageRunLogs(ctx, uid, keys, p)
	if err != nil {
		t.Fatal(err)
	}
	var got []RunLogLine
	if err := testStore.ReadRunLogLines(ctx, uid, keys, refs, func(l RunLogLine) error {
		got = append(got, l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(refs) {
		t.Fatalf("read %d lines of a page of %d", len(got), len(refs))
	}
	for i, r := range refs {
		k := keys[r.Key]
		if l := got[i]; l.Step != k.Step || l.Attempt != k.Attempt || l.Stream != k.Stream || l.Seq != r.Seq || int64(len(l.Line)) != r.Bytes {
			t.Fatalf("line %d: %s/%d/%s/%d of %d bytes, the page named %+v (key %+v)", i, l.Step, l.Attempt, l.Stream, l.Seq, len(l.Line), r, k)
		}
	}
	return got, more
}

// A page's limit bounds the whole read, not each stream's share of it: over 27 streams
// of 40 lines, a page of limit 25 holds 25 lines. (On main, commit 16ef044, the limit
// applied per stream: ReadRunLogs returned 675 rows for limit 25 here.)
func TestPageRunLogsLimitBoundsTheWholeRead(t *testing.T) {
	uid, keys := runLogsFixture(t, 40, 20)
	got, more := readPage(t, uid, keys, RunLogPage{Limit: 25, MaxBytes: 1 << 20})
	if len(got) != 25 || !more {
		t.Fatalf("read %d lines (more %v), want 25 and more", len(got), more)
	}
	all, more := readPage(t, uid, keys, RunLogPage{Limit: 5000, MaxBytes: 1 << 20})
	if len(all) != 27*40 || more {
		t.Fatalf("read %d lines (more %v), want all %d and no more", len(all), more, 27*40)
	}
}

// The byte bound ends a page before the line that would pass it; a first line larger
// than the bound still comes alone, so paging always makes progress.
func TestPageRunLogsByteBound(t *testing.T) {
	uid, keys := runLogsFixture(t, 10, 100)
	got, more := readPage(t, uid, keys, RunLogPage{Limit: 1000, MaxBytes: 1050})
	var size int
	for _, l := range got {
		size += len(l.Line)
	}
	if len(got) != 10 || size != 1000 || !more {
		t.Errorf("read %d lines of %d bytes (more %v), want 10 lines of 1000 bytes and more", len(got), size, more)
	}
	got, more = readPage(t, uid, keys, RunLogPage{Limit: 1000, MaxBytes: 10})
	if len(got) != 1 || !more {
		t.Errorf("bound below one line: read %d lines (more %v), want 1 and more", len(got), more)
	}
}

// Paging with a per-stream cursor hands every line exactly once, each stream's lines in
// sequence order, the stream whose clock runs backwards included; pages are cut by
// their limit and by their bytes.
func TestPageRunLogsPagesEveryLineOnce(t *testing.T) {
	uid, keys := runLogsFixture(t, 30, 50)
	cursor := map[string]int64{}
	seen := map[string]int64{} // stream → last seq read
	total := 0
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging did not end")
		}
		for i := range keys {
			keys[i].After = cursor[keys[i].Step+fmt.Sprint(keys[i].Attempt)+keys[i].Stream]
		}
		got, more := readPage(t, uid, keys, RunLogPage{Limit: 37, MaxBytes: 1234})
		if len(got) > 37 {
			t.Fatalf("page %d: %d lines", pages, len(got))
		}
		var prev time.Time
		maxTS := map[string]time.Time{}
		for _, l := range got {
			k := l.Step + fmt.Sprint(l.Attempt) + l.Stream
			if l.Seq != seen[k]+1 {
				t.Fatalf("page %d: %s line %d after %d", pages, k, l.Seq, seen[k])
			}
			seen[k], cursor[k] = l.Seq, l.Seq
			total++
			// The merge order: each line sorts by its stream's running maximum time.
			if l.Time.After(maxTS[k]) {
				maxTS[k] = l.Time
			}
			if maxTS[k].Before(prev) {
				t.Errorf("page %d: %s line %d sorts at %v, before %v", pages, k, l.Seq, maxTS[k], prev)
			}
			prev = maxTS[k]
		}
		if !more {
			if len(got) == 37 {
				t.Errorf("a full page said no more")
			}
			break
		}
	}
	if total != 27*30 {
		t.Errorf("read %d lines, want %d", total, 27*30)
	}
	for k, n := range seen {
		if n != 30 {
			t.Errorf("stream %s: read up to line %d, want 30", k, n)
		}
	}
}

// Planning a page touches the text of the page's lines only (to size them): PostgreSQL
// reads at most limit lines whole, by primary key, whatever the number of streams and
// lines behind them. Its plan, as EXPLAIN ANALYZE reports it, is the proof.
func TestPageRunLogsQueryReadsAtMostLimitLines(t *testing.T) {
	ctx := context.Background()
	uid, keys := runLogsFixture(t, 300, 40)
	if _, err := testStore.pool.Exec(ctx, "analyze run_logs"); err != nil {
		t.Fatal(err)
	}
	var steps, streams []string
	var attempts []int32
	var afters []int64
	for _, k := range keys {
		steps, attempts, streams, afters = append(steps, k.Step), append(attempts, int32(k.Attempt)), append(streams, k.Stream), append(afters, 0)
	}
	const limit = 100
	var plan []struct{ Plan planNode }
	if err := testStore.pool.QueryRow(ctx, "explain (analyze, verbose, format json) "+pageRunLogsSQL,
		uid, steps, attempts, streams, afters, limit, int64(1<<20)).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var whole float64
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.Relation == "run_logs" {
			if strings.Contains(n.Type, "Seq Scan") {
				t.Errorf("the query scans run_logs sequentially: %s", n.Type)
			}
			for _, col := range n.Output {
				if strings.Contains(col, ".line") {
					whole += n.Rows * n.Loops
				}
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan[0].Plan)
	if whole == 0 || whole > limit {
		t.Errorf("the query read %v lines whole, want 1 to %d", whole, limit)
	}
}

// planNode is a node of EXPLAIN's JSON plan.
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Output   []string   `json:"Output"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}
