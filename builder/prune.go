package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// CacheRecord is one record of the build cache: a step's cache key and the
// image the step produced, for `docker system df` and `builder prune`.
type CacheRecord struct {
	Key         string
	Image       digest.Digest // the step's image
	Parent      digest.Digest // the image the step started from ("" for scratch)
	Instruction string
	Created     time.Time // when the record was written (last written)
}

// CacheRecords lists the cache records. A record being written, or one
// that cannot be read, is left out.
func (b *Builder) CacheRecords(ctx context.Context) ([]CacheRecord, error) {
	dir := filepath.Join(b.cache.dir, "keys")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read build cache: %w", err)
	}
	var out []CacheRecord
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		var r record
		if readJSON(filepath.Join(dir, e.Name()), &r) != nil || r.Image == "" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, CacheRecord{Key: key, Image: r.Image, Parent: r.Inputs.Parent, Instruction: r.Inputs.Instruction, Created: info.ModTime()})
	}
	return out, nil
}

// RemoveCacheRecords removes the records of keys (one unlink each, so a
// crash leaves each record or none of it) and returns those it removed;
// a key without a record is skipped. The next build of such a step runs
// it again.
func (b *Builder) RemoveCacheRecords(ctx context.Context, keys []string) ([]string, error) {
	var removed []string
	for _, key := range keys {
		if strings.ContainsAny(key, "/.") {
			continue
		}
		err := os.Remove(b.cache.keyPath(key))
		switch {
		case err == nil:
			removed = append(removed, key)
		case errors.Is(err, fs.ErrNotExist):
		default:
			return removed, fmt.Errorf("remove build cache record: %w", err)
		}
	}
	return removed, nil
}
