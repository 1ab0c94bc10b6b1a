package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"golang.org/x/sync/semaphore"
)

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// filesIn counts the files in dir.
func filesIn(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// Content is kept in memory up to MemoryBytes and in a file past it; either way it reads
// back whole, with its digest, as often as asked, and Close leaves no file behind and
// gives back both budgets.
func TestSpoolKeepsContentWholeInMemoryOrFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		expect bool // announce the size
		inFile bool
	}{
		{"empty", 0, false, false},
		{"small", 100, false, false},
		{"first step exactly", firstStep, true, false},
		{"memory exactly", 256 << 10, false, false},
		{"memory exactly, announced", 256 << 10, true, false},
		{"past memory", 256<<10 + 1, false, true},
		{"past memory, announced", 300 << 10, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mem, disk := semaphore.NewWeighted(1<<20), semaphore.NewWeighted(1<<20)
			s := &Spooler{Dir: dir, MemoryBytes: 256 << 10, Memory: mem, Disk: disk}
			data := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
			expect := int64(-1)
			if tc.expect {
				expect = int64(tc.size)
			}
			c, err := s.Spool(iotest.HalfReader(bytes.NewReader(data)), 0, expect)
			if err != nil {
				t.Fatal(err)
			}
			if c.Size != int64(tc.size) || c.Digest != digestOf(data) {
				t.Errorf("size %d digest %s, want %d %s", c.Size, c.Digest, tc.size, digestOf(data))
			}
			if (c.Bytes() == nil) != tc.inFile || filesIn(t, dir) != map[bool]int{false: 0, true: 1}[tc.inFile] {
				t.Errorf("in memory %v, %d files; want in a file %v", c.Bytes() != nil, filesIn(t, dir), tc.inFile)
			}
			for range 2 {
				if got, err := io.ReadAll(c.Reader()); err != nil || !bytes.Equal(got, data) {
					t.Errorf("read back %d bytes (%v), want the %d sent", len(got), err, len(data))
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if filesIn(t, dir) != 0 || !mem.TryAcquire(1<<20) || !disk.TryAcquire(1<<20) {
				t.Error("Close left a file or a budget taken")
			}
		})
	}
}

// One byte past the limit is ErrTooLarge, announced or found while reading; nothing of it
// is kept.
func TestSpoolLimit(t *testing.T) {
	dir := t.TempDir()
	disk := semaphore.NewWeighted(10 << 20)
	s := &Spooler{Dir: dir, MemoryBytes: 1 << 10, Disk: disk}
	data := bytes.Repeat([]byte("x"), 5000)
	if c, err := s.Spool(bytes.NewReader(data), 5000, -1); err != nil || c.Size != 5000 {
		t.Errorf("exactly the limit: %v", err)
	} else {
		c.Close()
	}
	for _, expect := range []int64{-1, 5000, 5001} {
		if _, err := s.Spool(bytes.NewReader(append(data, 'y')), 5000, expect); !errors.Is(err, ErrTooLarge) {
			t.Errorf("one byte past the limit (announced %d): %v, want ErrTooLarge", expect, err)
		}
	}
	if filesIn(t, dir) != 0 || !disk.TryAcquire(10<<20) {
		t.Error("a refused content left a file or its budget taken")
	}
}

// The disk budget is shared: content that does not fit is ErrFull, announced or not, and
// what the others hold is given back as they close. Without memory budget left a content
// goes to a file from its first byte.
func TestSpoolBudgets(t *testing.T) {
	dir := t.TempDir()
	s := &Spooler{Dir: dir, MemoryBytes: 1 << 10, Memory: semaphore.NewWeighted(1 << 10), Disk: semaphore.NewWeighted(10 << 10)}
	data := bytes.Repeat([]byte("d"), 6<<10)
	first, err := s.Spool(bytes.NewReader(data), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, expect := range []int64{-1, int64(len(data))} {
		if _, err := s.Spool(bytes.NewReader(data), 0, expect); !errors.Is(err, ErrFull) {
			t.Errorf("past the disk budget (announced %d): %v, want ErrFull", expect, err)
		}
	}
	small, err := s.Spool(bytes.NewReader([]byte("tiny")), 0, -1)
	if err != nil || small.Bytes() != nil {
		t.Errorf("with the memory budget taken a content goes to a file: %v, in memory %v", err, small.Bytes() != nil)
	}
	small.Close()
	first.Close()
	second, err := s.Spool(bytes.NewReader(data), 0, int64(len(data)))
	if err != nil {
		t.Fatalf("once the budget is back: %v", err)
	}
	second.Close()
	if filesIn(t, dir) != 0 {
		t.Error("files left behind")
	}
}

// A reader's own error comes back as it is, and nothing is kept.
func TestSpoolReadError(t *testing.T) {
	dir := t.TempDir()
	s := &Spooler{Dir: dir, MemoryBytes: 1 << 10}
	boom := errors.New("client went away")
	if _, err := s.Spool(io.MultiReader(bytes.NewReader(make([]byte, 3000)), iotest.ErrReader(boom)), 0, -1); !errors.Is(err, boom) {
		t.Errorf("got %v, want the reader's error", err)
	}
	if filesIn(t, dir) != 0 {
		t.Error("a failed content left its file")
	}
}
