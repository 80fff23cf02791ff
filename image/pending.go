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
// survives a crash of the daemon. After an error the index is as it was.
func (ix *BlobIndex) AddPending(blob, chain digest.Digest) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.updateLocked(func(st *blobState) bool {
		if chain == "" {
			chain = st.Pending[blob].Chain
		}
		st.Pending[blob] = PendingLayer{Chain: chain, Verified: time.Now()}
		return true
	})
}

// TouchPending records that a pull uses the blobs again: those that have
// a record get their time refreshed, as if verified now. The others stay
// without one. After an error the index is as it was.
func (ix *BlobIndex) TouchPending(blobs ...digest.Digest) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.updateLocked(func(st *blobState) bool {
		changed := false
		for _, b := range blobs {
			if l, ok := st.Pending[b]; ok {
				l.Verified = time.Now()
				st.Pending[b] = l
				changed = true
			}
		}
		return changed
	})
}

// ForgetPending drops the records of blobs: an image that references them
// is recorded, so they are no longer garbage collection's exception. After
// an error the index is as it was.
func (ix *BlobIndex) ForgetPending(blobs ...digest.Digest) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.updateLocked(func(st *blobState) bool {
		changed := false
		for _, b := range blobs {
			if _, ok := st.Pending[b]; ok {
				delete(st.Pending, b)
				changed = true
			}
		}
		return changed
	})
}

// PendingSince drops the records of layers verified before since and
// returns the others, by blob. After an error the index is as it was.
func (ix *BlobIndex) PendingSince(since time.Time) (map[digest.Digest]PendingLayer, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := ix.updateLocked(func(st *blobState) bool {
		n := len(st.Pending)
		maps.DeleteFunc(st.Pending, func(_ digest.Digest, l PendingLayer) bool { return l.Verified.Before(since) })
		return len(st.Pending) != n
	})
	if err != nil {
		return nil, err
	}
	return maps.Clone(ix.st.Pending), nil
}
