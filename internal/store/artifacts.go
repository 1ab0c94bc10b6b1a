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
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// headBuffers recycles the read-ahead buffers: at thousands of small uploads a second,
// a fresh 64 KiB buffer each would be most of the garbage the server makes.
var headBuffers = sync.Pool{New: func() any { b := make([]byte, smallArtifactBytes+1); return &b }}

// PutArtifact streams r into the store as the content of key, at most maxBytes (0: no
// limit), in one transaction: either the whole artifact is recorded or nothing is.
// Identical content is stored once. When wantDigest is set the content must match it.
// Re-uploading the same key replaces the record, so a retried upload is harmless, and
// deletes the content it held when no artifact references it any more.
func (s *Store) PutArtifact(ctx context.Context, key ArtifactKey, contentType string, r io.Reader, maxBytes int64, wantDigest string) (Artifact, error) {
	// Read a little past the small-artifact size to learn which path this upload takes.
	bufp := headBuffers.Get().(*[]byte)
	defer headBuffers.Put(bufp)
	head := *bufp
	n, err := io.ReadFull(r, head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return s.putSmallArtifact(ctx, key, contentType, bytes.Clone(head[:n]), maxBytes, wantDigest)
	case err != nil:
		return Artifact{}, fmt.Errorf("reading upload: %w", err)
	}
	r = io.MultiReader(bytes.NewReader(head), r)
	var a Artifact
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, key.RunUID); err != nil {
			return err
		}
		digest, size, err := writeBlob(ctx, tx, r, maxBytes)
		if err != nil {
			return err
		}
		if wantDigest != "" && wantDigest != digest {
			return ErrDigestMismatch
		}
		a.Digest, a.Size = digest, size
		// The artifact this one replaces, locked until commit so that a concurrent
		// replacement of the same key sees this one's blob, not the one before.
		replaced, err := lockArtifacts(ctx, tx, []ArtifactKey{key})
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			insert into artifacts (namespace, run_uid, run_name, step, attempt, name, digest, content_type, size)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			on conflict (run_uid, step, attempt, name) do update
			  set digest = excluded.digest, content_type = excluded.content_type, size = excluded.size, created_at = now()
			returning created_at`,
			key.Namespace, key.RunUID, key.RunName, key.Step, key.Attempt, key.Name, digest, contentType, size,
		).Scan(&a.CreatedAt); err != nil {
			return err
		}
		return dropOrphanBlobs(ctx, tx, replaced)
	})
	if err != nil {
		return Artifact{}, err
	}
	a.ArtifactKey, a.ContentType = key, contentType
	return a, nil
}

// putSmallArtifact stores content that is already whole in memory through the group
// committer.
func (s *Store) putSmallArtifact(ctx context.Context, key ArtifactKey, contentType string, data []byte, maxBytes int64, wantDigest string) (Artifact, error) {
	if maxBytes > 0 && int64(len(data)) > maxBytes {
		return Artifact{}, ErrTooLarge
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if wantDigest != "" && wantDigest != digest {
		return Artifact{}, ErrDigestMismatch
	}
	created, err := s.small.submit(ctx, smallPut{key: key, contentType: contentType, digest: digest, data: data})
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{ArtifactKey: key, Digest: digest, ContentType: contentType, Size: int64(len(data)), CreatedAt: created}, nil
}

// writeBlob copies r into blob_chunks chunk by chunk under a provisional key, hashing as
// it goes, then files the chunks under the content's digest, or drops them when that blob
// already exists (dedup). Concurrent uploads of identical content serialize on the blobs
// primary key, so exactly one copy survives.
func writeBlob(ctx context.Context, tx pgx.Tx, r io.Reader, maxBytes int64) (digest string, size int64, err error) {
	provisional, err := provisionalKey()
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	buf := make([]byte, chunkSize)
	for seq := 0; ; seq++ {
		n, readErr := io.ReadFull(r, buf)
		if n > 0 {
			size += int64(n)
			if maxBytes > 0 && size > maxBytes {
				return "", 0, ErrTooLarge
			}
			h.Write(buf[:n])
			if _, err := tx.Exec(ctx, `insert into blob_chunks (digest, seq, data) values ($1, $2, $3)`, provisional, seq, buf[:n]); err != nil {
				return "", 0, fmt.Errorf("storing chunk: %w", err)
			}
		}
		if readErr == io.EOF || readErr == io.ErrUnexpectedEOF {
			break
		}
		if readErr != nil {
			return "", 0, fmt.Errorf("reading upload: %w", readErr)
		}
	}
	digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	tag, err := tx.Exec(ctx, `insert into blobs (digest, size) values ($1, $2) on conflict (digest) do nothing`, digest, size)
	if err != nil {
		return "", 0, err
	}
	if tag.RowsAffected() == 1 {
		_, err = tx.Exec(ctx, `update blob_chunks set digest = $1 where digest = $2`, digest, provisional)
	} else {
		_, err = tx.Exec(ctx, `delete from blob_chunks where digest = $1`, provisional)
	}
	return digest, size, err
}

// artifactLockClass is the first key of the transaction-scoped advisory locks on artifact
// keys ('ARTF'); two-key advisory locks never meet the one-key locks used elsewhere.
const artifactLockClass = 0x41525446

// lockArtifacts serializes the writers of keys until tx ends (advisory locks, taken in
// one order, so that even two first uploads of one key see each other) and returns the
// digests the keys hold now: what writing them replaces.
func lockArtifacts(ctx context.Context, tx pgx.Tx, keys []ArtifactKey) ([]string, error) {
	uids, steps, attempts, names := make([]string, len(keys)), make([]string, len(keys)), make([]int32, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		uids[i], steps[i], attempts[i], names[i] = strings.ToLower(k.RunUID), k.Step, int32(k.Attempt), k.Name
	}
	if _, err := tx.Exec(ctx, `
		select pg_advisory_xact_lock($5, h) from (
		  select distinct hashtext(k.run_uid || '/' || k.step || '/' || k.attempt || '/' || k.name) h
		  from unnest($1::text[], $2::text[], $3::int[], $4::text[]) as k(run_uid, step, attempt, name)
		  order by h) locks`, uids, steps, attempts, names, artifactLockClass); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		select a.digest from artifacts a
		join unnest($1::uuid[], $2::text[], $3::int[], $4::text[]) as k(run_uid, step, attempt, name)
		  on a.run_uid = k.run_uid and a.step = k.step and a.attempt = k.attempt and a.name = k.name`,
		uids, steps, attempts, names)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

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
