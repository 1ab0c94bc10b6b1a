// Package spool reads an upload to its end before anything is written to the store: a
// client's body arrives at whatever pace the client likes, and a database connection or
// transaction held while it trickles in would be taken from every other tenant. Content is
// held in memory up to a bound, the rest in a temporary file, both within budgets shared by
// all uploads of the process; it is hashed as it is read, so its digest is known before the
// write begins.
package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"golang.org/x/sync/semaphore"
)

// DefaultMemoryBytes is the most of one upload held in memory; the rest goes to a file.
const DefaultMemoryBytes = 1 << 20

// firstStep is the memory an upload is first given (most artifacts are smaller); pooled,
// since thousands of small uploads a second would otherwise make most of the garbage.
const firstStep = 64 << 10

var (
	// ErrTooLarge means the content went past its byte limit; nothing of it is kept.
	ErrTooLarge = errors.New("spool: content exceeds the size limit")
	// ErrFull means the spool's disk budget is spent by uploads in flight; retrying later
	// can succeed.
	ErrFull = errors.New("spool: the upload spool is full")
	// ErrIO means the temporary file could not be written (the reader's own errors come
	// back as they are).
	ErrIO = errors.New("spool: cannot write the temporary file")
)

// Spooler reads contents to the end within its budgets. The zero Spooler has no budgets
// (for trusted callers), holds DefaultMemoryBytes in memory and spools to os.TempDir().
type Spooler struct {
	// Dir holds the temporary files; "" is os.TempDir().
	Dir string
	// MemoryBytes is the most of one content held in memory (0: DefaultMemoryBytes).
	MemoryBytes int64
	// Memory, when set, bounds the bytes all contents hold in memory at once; a content
	// that gets none of it goes to a file from its first byte.
	Memory *semaphore.Weighted
	// Disk, when set, bounds the bytes all temporary files hold at once; past it
	// Spool fails with ErrFull.
	Disk *semaphore.Weighted
}

var firstBuffers = sync.Pool{New: func() any { b := make([]byte, firstStep); return &b }}

// Content is spooled content: its size and digest, read again with Reader. Close releases
// its memory and file.
type Content struct {
	Size   int64
	Digest string // "sha256:<hex>"

	sp       *Spooler
	first    *[]byte // pooled buffer holding the first bytes, nil once released
	mem      []byte  // the bytes held in memory (within first or a larger buffer)
	file     *os.File
	memHeld  int64 // reserved from sp.Memory
	diskHeld int64 // reserved from sp.Disk
}

// Bytes is the whole content when it is held in memory, else nil. It is valid until Close.
func (c *Content) Bytes() []byte {
	switch {
	case c.file != nil:
		return nil
	case c.mem == nil: // empty, and no memory was to be had for it
		return []byte{}
	}
	return c.mem
}

// Reader reads the content from its start; each call starts again.
func (c *Content) Reader() io.Reader {
	if c.file == nil {
		return &sliceReader{b: c.mem}
	}
	return io.MultiReader(&sliceReader{b: c.mem}, io.NewSectionReader(c.file, 0, c.Size-int64(len(c.mem))))
}

// sliceReader is bytes.Reader without its WriteTo, so that copying it goes through
// Read calls of the reader's size and never hands a caller the content's own memory.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Close removes the file and gives back the content's memory and budgets.
func (c *Content) Close() error {
	var err error
	if c.file != nil {
		err = errors.Join(c.file.Close(), os.Remove(c.file.Name()))
		c.file = nil
	}
	if c.first != nil {
		firstBuffers.Put(c.first)
		c.first = nil
	}
	c.mem = nil
	if c.memHeld > 0 {
		c.sp.Memory.Release(c.memHeld)
		c.memHeld = 0
	}
	if c.diskHeld > 0 {
		c.sp.Disk.Release(c.diskHeld)
		c.diskHeld = 0
	}
	return err
}

// Spool reads r to its end: at most limit bytes (0: no limit; one more is ErrTooLarge).
// expect is the announced length (-1: unknown); content announced larger than what
// memory holds goes to a file from its first byte, with its disk budget taken at once.
// On error nothing is kept.
func (s *Spooler) Spool(r io.Reader, limit, expect int64) (*Content, error) {
	c := &Content{sp: s}
	if err := c.read(r, limit, expect); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Content) read(r io.Reader, limit, expect int64) error {
	if limit > 0 && expect > limit {
		return ErrTooLarge
	}
	h := sha256.New()
	src := io.TeeReader(&limitReader{r: r, left: limit, limited: limit > 0}, h)
	memMax := c.sp.MemoryBytes
	if memMax <= 0 {
		memMax = DefaultMemoryBytes
	}
	if expect < 0 || expect <= memMax {
		done, err := c.readToMemory(src, memMax)
		if err != nil || done {
			return c.finish(h, err)
		}
		// Memory is full (or its budget spent): a content that ends right there stays
		// in memory; else its next byte starts the file.
		var next [1]byte
		switch n, err := io.ReadFull(src, next[:]); {
		case err == io.EOF:
			return c.finish(h, nil)
		case err != nil:
			return err
		default:
			src = io.MultiReader(bytes.NewReader(next[:n]), src) // hashed already
		}
	}
	if expect > c.Size {
		if err := c.reserveDisk(expect - c.Size); err != nil {
			return err
		}
	}
	return c.finish(h, c.readToFile(src))
}

// readToMemory reads up to most bytes into memory, in steps each reserved from the memory
// budget; done is whether the content ended there.
func (c *Content) readToMemory(src io.Reader, most int64) (done bool, err error) {
	for int64(len(c.mem)) < most {
		step := min(most, max(firstStep, 2*int64(len(c.mem)))) - int64(len(c.mem))
		if !c.reserveMemory(step) {
			return false, nil
		}
		if c.mem == nil && step <= firstStep {
			c.first = firstBuffers.Get().(*[]byte)
			c.mem = (*c.first)[:0]
		} else if int64(cap(c.mem)) < int64(len(c.mem))+step {
			grown := make([]byte, len(c.mem), int64(len(c.mem))+step)
			copy(grown, c.mem)
			c.mem = grown
			if c.first != nil {
				firstBuffers.Put(c.first)
				c.first = nil
			}
		}
		n, err := io.ReadFull(src, c.mem[len(c.mem):int64(len(c.mem))+step])
		c.mem = c.mem[:len(c.mem)+n]
		c.Size += int64(n)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return true, nil
		case err != nil:
			return false, err
		}
	}
	return false, nil
}

// readToFile copies the rest of src into a temporary file, within the disk budget.
func (c *Content) readToFile(src io.Reader) error {
	f, err := os.CreateTemp(c.sp.Dir, "aias-upload-*")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIO, err)
	}
	c.file = f
	buf := make([]byte, 32<<10)
	for {
		n, readErr := src.Read(buf)
		if n > 0 {
			if err := c.reserveDisk(c.Size + int64(n) - int64(len(c.mem)) - c.diskHeld); err != nil {
				return err
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return fmt.Errorf("%w: %w", ErrIO, err)
			}
			c.Size += int64(n)
		}
		if readErr == io.EOF {
			return nil
		}
		if readErr != nil {
			return readErr
		}
	}
}

func (c *Content) finish(h hash.Hash, err error) error {
	if err != nil {
		return err
	}
	c.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return nil
}

func (c *Content) reserveMemory(n int64) bool {
	if c.sp.Memory != nil && !c.sp.Memory.TryAcquire(n) {
		return false
	}
	if c.sp.Memory != nil {
		c.memHeld += n
	}
	return true
}

// reserveDisk takes n more bytes of the disk budget (nothing when n <= 0).
func (c *Content) reserveDisk(n int64) error {
	if n <= 0 || c.sp.Disk == nil {
		return nil
	}
	if !c.sp.Disk.TryAcquire(n) {
		return ErrFull
	}
	c.diskHeld += n
	return nil
}

// limitReader fails with ErrTooLarge on the first byte past left.
type limitReader struct {
	r       io.Reader
	left    int64
	limited bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if !l.limited {
		return l.r.Read(p)
	}
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte past the limit tells a content that is too large
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, ErrTooLarge
	}
	return n, err
}
