package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/internal/atomicfile"
)

// BlobIndex remembers what registries know about layer blobs: the
// repositories each blob was pulled from or pushed to (so that a push to
// another repository of the same registry can mount it instead of
// uploading it), the gzip copy made of a zstd blob for registries'
// clients that cannot read zstd (so that the next push reuses it), and the
// layers pulls verified before recording their image (pending.go). It lives
// in one file rewritten atomically on every change. BlobIndex is safe for
// concurrent use.
type BlobIndex struct {
	mu   sync.Mutex
	path string
	st   blobState
}

type blobState struct {
	Sources map[digest.Digest][]string           // blob -> repositories (full names), oldest first
	Gzip    map[digest.Digest]ocispec.Descriptor // zstd blob -> its gzip copy
	Pending map[digest.Digest]PendingLayer       `json:",omitempty"` // layer blob -> its pull, until its image is recorded
}

// OpenBlobIndex loads the index kept in path, or starts an empty one.
func OpenBlobIndex(path string) (*BlobIndex, error) {
	ix := &BlobIndex{path: path, st: blobState{Sources: map[digest.Digest][]string{}, Gzip: map[digest.Digest]ocispec.Descriptor{}, Pending: map[digest.Digest]PendingLayer{}}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return ix, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(data, &ix.st); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if ix.st.Sources == nil {
		ix.st.Sources = map[digest.Digest][]string{}
	}
	if ix.st.Gzip == nil {
		ix.st.Gzip = map[digest.Digest]ocispec.Descriptor{}
	}
	if ix.st.Pending == nil {
		ix.st.Pending = map[digest.Digest]PendingLayer{}
	}
	return ix, nil
}

// Sources returns the repositories blob is known to be in, most recent
// first.
func (ix *BlobIndex) Sources(blob digest.Digest) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	repos := slices.Clone(ix.st.Sources[blob])
	slices.Reverse(repos)
	return repos
}

// AddSources records that the blobs are in the repository repo. After an
// error the index is as it was.
func (ix *BlobIndex) AddSources(repo string, blobs ...digest.Digest) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.updateLocked(func(st *blobState) bool {
		changed := false
		for _, b := range blobs {
			repos := st.Sources[b]
			if i := slices.Index(repos, repo); i == len(repos)-1 && i >= 0 {
				continue
			} else if i >= 0 {
				repos = slices.Delete(repos, i, i+1)
			}
			st.Sources[b] = append(repos, repo)
			changed = true
		}
		return changed
	})
}

// Gzip returns the gzip copy of the zstd blob, if one was made.
func (ix *BlobIndex) Gzip(blob digest.Digest) (ocispec.Descriptor, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	d, ok := ix.st.Gzip[blob]
	return d, ok
}

// SetGzip records gz as the gzip copy of the zstd blob. After an error the
// index is as it was.
func (ix *BlobIndex) SetGzip(blob digest.Digest, gz ocispec.Descriptor) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.updateLocked(func(st *blobState) bool {
		st.Gzip[blob] = gz
		return true
	})
}

// Retain keeps the entries of the blobs keep returns true for, and the
// gzip copies of those keepCopy returns true for, and reports those
// copies: garbage collection keeps them too. After an error the index is
// as it was.
func (ix *BlobIndex) Retain(keep, keepCopy func(digest.Digest) bool) ([]digest.Digest, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var copies []digest.Digest
	err := ix.updateLocked(func(st *blobState) bool {
		changed := false
		isCopy := map[digest.Digest]bool{}
		for b, gz := range st.Gzip {
			if !keep(b) || !keepCopy(b) {
				delete(st.Gzip, b)
				changed = true
				continue
			}
			copies = append(copies, gz.Digest)
			isCopy[gz.Digest] = true
		}
		for b := range st.Sources {
			if !keep(b) && !isCopy[b] {
				delete(st.Sources, b)
				changed = true
			}
		}
		return changed
	})
	return copies, err
}

// updateLocked applies change to a copy of the index and, when change
// reports that it changed something, writes the copy and keeps it: after a
// failed write the index is as it was. The caller holds ix.mu.
func (ix *BlobIndex) updateLocked(change func(st *blobState) bool) error {
	st := blobState{Sources: make(map[digest.Digest][]string, len(ix.st.Sources)), Gzip: maps.Clone(ix.st.Gzip), Pending: maps.Clone(ix.st.Pending)}
	for b, repos := range ix.st.Sources {
		st.Sources[b] = slices.Clone(repos) // change may edit them in place
	}
	if !change(&st) {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(ix.path, data, 0o600); err != nil {
		return err
	}
	ix.st = st
	return nil
}
