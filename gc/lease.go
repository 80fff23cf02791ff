package gc

import (
	"sync"

	"github.com/opencontainers/go-digest"
)

// leases are the blobs and layers (by chain ID) that running operations
// use, counted.
type leases struct {
	mu     sync.Mutex
	blobs  map[digest.Digest]int
	chains map[digest.Digest]int
}

// Lease keeps blobs and chains (layers, with their parents) from
// collection until release is called (once; later calls do nothing).
// Whatever of them exists when Lease returns stays until then. The caller
// must not hold RLock (see LeaseHeld).
func (c *Collector) Lease(blobs, chains []digest.Digest) (release func()) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.leases.add(blobs, chains)
}

// LeaseHeld is Lease for a caller that holds RLock.
func (c *Collector) LeaseHeld(blobs, chains []digest.Digest) (release func()) {
	return c.leases.add(blobs, chains)
}

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
