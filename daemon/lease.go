package daemon

import (
	"sync"

	"github.com/opencontainers/go-digest"
)

// leases are the blobs and layers (by chain ID) that running pulls,
// pushes and loads use: garbage collection keeps them, with the layers' parents, as
// it keeps what images reference. They live in memory only; after a crash
// the pending records of pulls (image.PendingLayer) take their place.
type leases struct {
	mu     sync.Mutex
	blobs  map[digest.Digest]int
	chains map[digest.Digest]int
}

// lease keeps blobs and chains from garbage collection until release is
// called (once). Whatever of them exists when lease returns stays until
// then: a collection either ended before the lease or sees it.
func (d *Daemon) lease(blobs, chains []digest.Digest) (release func()) {
	d.gc.RLock()
	defer d.gc.RUnlock()
	return d.leases.add(blobs, chains)
}

// add is lease for a caller that holds d.gc for reading.
func (l *leases) add(blobs, chains []digest.Digest) (release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blobs == nil {
		l.blobs, l.chains = map[digest.Digest]int{}, map[digest.Digest]int{}
	}
	for _, b := range blobs {
		l.blobs[b]++
	}
	for _, c := range chains {
		l.chains[c]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, b := range blobs {
				if l.blobs[b]--; l.blobs[b] <= 0 {
					delete(l.blobs, b)
				}
			}
			for _, c := range chains {
				if l.chains[c]--; l.chains[c] <= 0 {
					delete(l.chains, c)
				}
			}
		})
	}
}

// leased returns what the running operations lease, blobs and chains.
func (l *leases) leased() (blobs, chains []digest.Digest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for b := range l.blobs {
		blobs = append(blobs, b)
	}
	for c := range l.chains {
		chains = append(chains, c)
	}
	return blobs, chains
}
