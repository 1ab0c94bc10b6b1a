package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aias-dev/aias/internal/spool"
)

// chunkSize is the unit in which blob content is stored and streamed.
const chunkSize = 1 << 20

var (
	// ErrTooLarge means an upload went over its byte limit; nothing of it was stored.
	ErrTooLarge = errors.New("artifact exceeds the size limit")
	// ErrDigestMismatch means the content did not hash to the digest the uploader announced.
	ErrDigestMismatch = errors.New("artifact content does not match its digest")
	// ErrNotFound means no such artifact.
	ErrNotFound = errors.New("not found")
)

// ArtifactKey identifies one output of one step attempt of a Run.
type ArtifactKey struct {
	Namespace string
	RunName   string
	RunUID    string
	Step      string
	Attempt   int
	Name      string
}

// Artifact describes a stored output; its content is the blob named by Digest.
type Artifact struct {
	ArtifactKey
	Digest      string
	ContentType string
	Size        int64
	CreatedAt   time.Time
}

// defaultSpool spools the content of PutArtifact: its callers pass readers at hand
// (tests, tools), so it has no budgets.
var defaultSpool spool.Spooler

// PutArtifact reads r to its end (at most maxBytes, 0: no limit), then stores it as
// WriteArtifact does, without a cap on the attempt's artifacts. When wantDigest is set the
// content must match it. No transaction is open while r is read.
func (s *Store) PutArtifact(ctx context.Context, key ArtifactKey, contentType string, r io.Reader, maxBytes int64, wantDigest string) (Artifact, error) {
	c, err := defaultSpool.Spool(r, maxBytes, -1)
	if errors.Is(err, spool.ErrTooLarge) {
		return Artifact{}, ErrTooLarge
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("reading upload: %w", err)
	}
	defer c.Close()
	if wantDigest != "" && wantDigest != c.Digest {
		return Artifact{}, ErrDigestMismatch
	}
	return s.WriteArtifact(ctx, key, contentType, c, 0)
}

// WriteArtifact stores spooled content as the content of key, in one transaction: either
// the whole artifact is recorded or nothing is. The content is read whole before (see
// package spool), so the transaction never waits on a client. Identical content is stored
// once. Re-uploading the same key replaces the record, so a retried upload is harmless,
// and deletes the content it held when no artifact references it any more.
//
// The caps are reserved in the same transaction (reserveArtifacts): the Run's
// artifactBytesPerRun (run_limits; *QuotaError of ErrRunArtifactQuota) and at most
// maxPerAttempt artifacts per attempt (0: no cap; ErrTooManyArtifacts), replacing one
// adding none.
func (s *Store) WriteArtifact(ctx context.Context, key ArtifactKey, contentType string, c *spool.Content, maxPerAttempt int) (Artifact, error) {
	if data := c.Bytes(); data != nil && len(data) <= smallArtifactBytes {
		// The group committer may still hold the bytes after its caller went away.
		return s.putSmallArtifact(ctx, key, contentType, bytes.Clone(data), c.Digest, maxPerAttempt)
	}
	a := Artifact{ArtifactKey: key, ContentType: contentType, Digest: c.Digest, Size: c.Size}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, key.RunUID); err != nil {
			return err
		}
		// The chunks first, under a provisional key: they need no lock, and writing
		// them takes the longest.
		provisional, err := writeChunks(ctx, tx, c)
		if err != nil {
			return err
		}
		refusals, replaced, err := reserveArtifacts(ctx, tx, []plannedArtifact{{key: key, size: c.Size, maxPerAttempt: maxPerAttempt}})
		if err != nil {
			return err
		}
		if refusals[0] != nil {
			return refusals[0]
		}
		if err := fileBlob(ctx, tx, provisional, c.Digest, c.Size); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			insert into artifacts (namespace, run_uid, run_name, step, attempt, name, digest, content_type, size)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			on conflict (run_uid, step, attempt, name) do update
			  set digest = excluded.digest, content_type = excluded.content_type, size = excluded.size, created_at = now()
			returning created_at`,
			key.Namespace, key.RunUID, key.RunName, key.Step, key.Attempt, key.Name, c.Digest, contentType, c.Size,
		).Scan(&a.CreatedAt); err != nil {
			return err
		}
		return dropOrphanBlobs(ctx, tx, replaced)
	})
	if err != nil {
		return Artifact{}, err
	}
	return a, nil
}

// putSmallArtifact stores content that is whole in memory through the group committer.
func (s *Store) putSmallArtifact(ctx context.Context, key ArtifactKey, contentType string, data []byte, digest string, maxPerAttempt int) (Artifact, error) {
	created, err := s.small.submit(ctx, smallPut{key: key, contentType: contentType, digest: digest, data: data, maxPerAttempt: maxPerAttempt})
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{ArtifactKey: key, Digest: digest, ContentType: contentType, Size: int64(len(data)), CreatedAt: created}, nil
}

// errSpoolChanged means spooled content read back differently from how it was spooled
// (a damaged temporary file): nothing of it is stored.
var errSpoolChanged = errors.New("store: the spooled content changed before it was written")

// writeChunks copies c into blob_chunks chunk by chunk under a provisional key, hashing
// it again so that only the content that was spooled is ever filed under its digest.
func writeChunks(ctx context.Context, tx pgx.Tx, c *spool.Content) (provisional string, err error) {
	provisional, err = provisionalKey()
	if err != nil {
		return "", err
	}
	r := c.Reader()
	h := sha256.New()
	buf := make([]byte, chunkSize)
	var size int64
	for seq := 0; ; seq++ {
		n, readErr := io.ReadFull(r, buf)
		if n > 0 {
			size += int64(n)
			h.Write(buf[:n])
			if _, err := tx.Exec(ctx, `insert into blob_chunks (digest, seq, data) values ($1, $2, $3)`, provisional, seq, buf[:n]); err != nil {
				return "", fmt.Errorf("storing chunk: %w", err)
			}
		}
		if readErr == io.EOF || readErr == io.ErrUnexpectedEOF {
			break
		}
		if readErr != nil {
			return "", fmt.Errorf("reading spooled content: %w", readErr)
		}
	}
	if size != c.Size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != c.Digest {
		return "", errSpoolChanged
	}
	return provisional, nil
}

// fileBlob files the provisional chunks under the content's digest, or drops them when
// that blob already exists (dedup). Concurrent uploads of identical content serialize on
// the blobs primary key, so exactly one copy survives.
func fileBlob(ctx context.Context, tx pgx.Tx, provisional, digest string, size int64) error {
	tag, err := tx.Exec(ctx, `insert into blobs (digest, size) values ($1, $2) on conflict (digest) do nothing`, digest, size)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		_, err = tx.Exec(ctx, `update blob_chunks set digest = $1 where digest = $2`, digest, provisional)
	} else {
		_, err = tx.Exec(ctx, `delete from blob_chunks where digest = $1`, provisional)
	}
	return err
}

// artifactLockClass is the first key of the transaction-scoped advisory locks on artifact
// keys ('ARTF'; see reserveArtifacts); two-key advisory locks never meet the one-key locks
// used elsewhere.
const artifactLockClass = 0x41525446

// dropOrphanBlobs deletes those of digests no artifact references any more (a replaced
// artifact's old content), so re-uploading under one name never leaves the old content
// behind, outside every Run's artifact bytes. It runs under a savepoint and gives up
// quietly when a concurrent upload takes a reference meanwhile (the foreign key refuses
// the delete): then the blob is not an orphan, and the upload that called it stands.
func dropOrphanBlobs(ctx context.Context, tx pgx.Tx, digests []string) error {
	if len(digests) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		rows, err := sp.Query(ctx, `
			delete from blobs b where b.digest = any($1)
			and not exists (select 1 from artifacts a where a.digest = b.digest)
			returning b.digest`, digests)
		if err != nil {
			return err
		}
		gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(gone) == 0 {
			return err
		}
		_, err = sp.Exec(ctx, `delete from blob_chunks where digest = any($1)`, gone)
		return err
	})
	if err != nil && isRace(err) {
		return nil // rolled back to the savepoint; the rest of tx goes on
	}
	return err
}

// isRace: a foreign-key violation (a concurrent upload took a reference) or a deadlock.
func isRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "23503" || pgErr.Code == "40P01")
}

func provisionalKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "upload:" + hex.EncodeToString(b), nil
}

// ListArtifacts returns a Run's artifacts ordered by step, attempt and name.
func (s *Store) ListArtifacts(ctx context.Context, runUID string) ([]Artifact, error) {
	rows, err := s.pool.Query(ctx, `
		select namespace, run_name, run_uid::text, step, attempt, name, digest, content_type, size, created_at
		from artifacts where run_uid = $1 order by step, attempt, name`, runUID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanArtifact)
}

// FindArtifact returns one artifact of a Run: the given attempt's, or with attempt 0 the
// latest attempt's.
func (s *Store) FindArtifact(ctx context.Context, runUID, step, name string, attempt int) (Artifact, error) {
	rows, err := s.pool.Query(ctx, `
		select namespace, run_name, run_uid::text, step, attempt, name, digest, content_type, size, created_at
		from artifacts where run_uid = $1 and step = $2 and name = $3 and ($4 = 0 or attempt = $4)
		order by attempt desc limit 1`, runUID, step, name, attempt)
	if err != nil {
		return Artifact{}, err
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanArtifact)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

func scanArtifact(row pgx.CollectableRow) (Artifact, error) {
	var a Artifact
	err := row.Scan(&a.Namespace, &a.RunName, &a.RunUID, &a.Step, &a.Attempt, &a.Name, &a.Digest, &a.ContentType, &a.Size, &a.CreatedAt)
	return a, err
}

// OpenBlob streams the content of digest one chunk at a time. The reader seeks (HTTP
// Range requests) by chunk arithmetic: every chunk but the last holds exactly chunkSize
// bytes, so an offset names its chunk without reading the ones before it.
func (s *Store) OpenBlob(ctx context.Context, digest string) (io.ReadSeekCloser, int64, error) {
	var size int64
	err := s.pool.QueryRow(ctx, `select size from blobs where digest = $1`, digest).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return &blobReader{ctx: ctx, s: s, digest: digest, size: size}, size, nil
}

type blobReader struct {
	ctx    context.Context
	s      *Store
	digest string
	size   int64
	seq    int    // next chunk to fetch
	skip   int    // bytes of that chunk to drop (after a Seek into its middle)
	pos    int64  // offset of the next byte Read returns
	buf    []byte // unread rest of the current chunk
	done   bool
}

func (b *blobReader) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.done || b.pos >= b.size {
			return 0, io.EOF
		}
		err := b.s.pool.QueryRow(b.ctx, `select data from blob_chunks where digest = $1 and seq = $2`, b.digest, b.seq).Scan(&b.buf)
		if errors.Is(err, pgx.ErrNoRows) {
			b.done = true
			continue
		}
		if err != nil {
			return 0, err
		}
		b.seq++
		if b.skip > 0 {
			b.buf = b.buf[min(b.skip, len(b.buf)):]
			b.skip = 0
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	b.pos += int64(n)
	return n, nil
}

// Seek moves to an offset; the next Read fetches the chunk holding it.
func (b *blobReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 {
		return 0, errors.New("blob: negative offset")
	}
	b.pos, b.buf, b.done = offset, nil, false
	b.seq, b.skip = int(offset/chunkSize), int(offset%chunkSize)
	return offset, nil
}

func (b *blobReader) Close() error { b.done, b.buf = true, nil; return nil }
