package image

import (
	"encoding/json"
	"errors"
	"fmt"
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

// AddSources records that the blobs are in the repository repo.
func (ix *BlobIndex) AddSources(repo string, blobs ...digest.Digest) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	changed := false
	for _, b := range blobs {
		repos := ix.st.Sources[b]
		if i := slices.Index(repos, repo); i == len(repos)-1 && i >= 0 {
			continue
		} else if i >= 0 {
			repos = slices.Delete(repos, i, i+1)
		}
		ix.st.Sources[b] = append(repos, repo)
		changed = true
	}
	if !changed {
		return nil
	}
	return ix.saveLocked()
}

// Gzip returns the gzip copy of the zstd blob, if one was made.
func (ix *BlobIndex) Gzip(blob digest.Digest) (ocispec.Descriptor, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	d, ok := ix.st.Gzip[blob]
	return d, ok
}

// SetGzip records gz as the gzip copy of the zstd blob.
func (ix *BlobIndex) SetGzip(blob digest.Digest, gz ocispec.Descriptor) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.st.Gzip[blob] = gz
	return ix.saveLocked()
}

// Retain keeps the entries of the blobs keep returns true for, and reports
// the gzip copies of those: garbage collection keeps them too.
func (ix *BlobIndex) Retain(keep func(digest.Digest) bool) ([]digest.Digest, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	changed := false
	var copies []digest.Digest
	isCopy := map[digest.Digest]bool{}
	for b, gz := range ix.st.Gzip {
		if !keep(b) {
			delete(ix.st.Gzip, b)
			changed = true
			continue
		}
		copies = append(copies, gz.Digest)
		isCopy[gz.Digest] = true
	}
	for b := range ix.st.Sources {
		if !keep(b) && !isCopy[b] {
			delete(ix.st.Sources, b)
			changed = true
		}
	}
	if !changed {
		return copies, nil
	}
	return copies, ix.saveLocked()
}

func (ix *BlobIndex) saveLocked() error {
	data, err := json.Marshal(ix.st)
	if err != nil {
		return err
	}
	return atomicfile.Write(ix.path, data, 0o600)
}
