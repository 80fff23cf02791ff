package image

import (
	"maps"
	"time"

	"github.com/opencontainers/go-digest"
)

// PendingLayer is a layer a pull verified (its blob, and its extraction
// once done) before the pull recorded the image that needs it.
type PendingLayer struct {
	Chain    digest.Digest `json:",omitempty"` // the extracted layer's chain ID; "" while only the blob is here
	Verified time.Time
}

// AddPending records that a pull verified blob, and extracted it as the
// layer chain when chain is not "" (an earlier chain is kept otherwise),
// so that garbage collection keeps them for the next pull if this one is
// interrupted. The record is written before AddPending returns: it
// survives a crash of the daemon.
func (ix *BlobIndex) AddPending(blob, chain digest.Digest) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if chain == "" {
		chain = ix.st.Pending[blob].Chain
	}
	ix.st.Pending[blob] = PendingLayer{Chain: chain, Verified: time.Now()}
	return ix.saveLocked()
}

// ForgetPending drops the records of blobs: an image that references them
// is recorded, so they are no longer garbage collection's exception.
func (ix *BlobIndex) ForgetPending(blobs ...digest.Digest) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	changed := false
	for _, b := range blobs {
		if _, ok := ix.st.Pending[b]; ok {
			delete(ix.st.Pending, b)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return ix.saveLocked()
}

// PendingSince drops the records of layers verified before since and
// returns the others, by blob.
func (ix *BlobIndex) PendingSince(since time.Time) (map[digest.Digest]PendingLayer, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := len(ix.st.Pending)
	maps.DeleteFunc(ix.st.Pending, func(_ digest.Digest, l PendingLayer) bool { return l.Verified.Before(since) })
	if len(ix.st.Pending) != n {
		if err := ix.saveLocked(); err != nil {
			return nil, err
		}
	}
	return maps.Clone(ix.st.Pending), nil
}
