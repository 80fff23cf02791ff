package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/dockerfile"
	"github.com/gantry/gantry/internal/atomicfile"
)

// Inputs are what a step's result depends on. The cache key is the digest
// of the first five; the others are kept so that a miss can be explained.
type Inputs struct {
	// Parent is the image the step starts from ("" for scratch).
	Parent digest.Digest `json:"parent,omitempty"`
	// Instruction is the expanded instruction (dockerfile Scope.Key).
	Instruction string `json:"instruction"`
	// BuildArgs are the build args in scope, name -> value.
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
	// Sources is the digest of what COPY or ADD copies: content, mode and
	// owner of every file, not modification times.
	Sources digest.Digest `json:"sources,omitempty"`
	// Epoch is the build's SOURCE_DATE_EPOCH ("" for none).
	Epoch string `json:"epoch,omitempty"`

	// Base is the stage's base as named ("busybox:latest"), BaseImage the
	// image it resolved to.
	Base      string        `json:"base,omitempty"`
	BaseImage digest.Digest `json:"baseImage,omitempty"`
	// Files are the digests of the sources' files by context path, when
	// there are not too many of them (fileSum's text: mode, owner,
	// content).
	Files map[string]string `json:"files,omitempty"`
	// Source is the instruction as written, and Parts its inputs after
	// expansion, for saying what changed.
	Source string            `json:"source,omitempty"`
	Parts  []dockerfile.Part `json:"parts,omitempty"`
}

// maxFiles is the number of source files above which Inputs.Files is not
// kept: the record stays small, and a miss then says "sources changed".
const maxFiles = 10000

// Key is the cache key of the step: a hex sha256 of the first five.
func (in *Inputs) Key() string {
	b, _ := json.Marshal(struct {
		Parent      digest.Digest     `json:"p"`
		Instruction string            `json:"i"`
		BuildArgs   map[string]string `json:"a"`
		Sources     digest.Digest     `json:"s"`
		Epoch       string            `json:"e,omitempty"`
	}{in.Parent, in.Instruction, in.BuildArgs, in.Sources, in.Epoch})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// lineage is the identity of a place in a Dockerfile, independent of the
// images built there: the stage's base as named and the instructions before
// the step. The cache remembers the inputs of the last build at each place,
// which is what a miss is explained against.
func lineage(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cache keeps the records under its directory: keys/<key>.json (the image a
// step produced, with its inputs) and steps/<lineage>.json (the inputs of
// the last build at a place of a Dockerfile). Records are small JSON files
// written atomically, so a crash leaves the old record or the new one.
type cache struct {
	dir string

	mu sync.Mutex
	// byImage indexes the records by the images they point at (a key
	// record at its image and parent, a step record at its parent and
	// result), so
	// that a sweep reads only the records of images that are gone. It is
	// read from the disk at the first sweep; nil until then.
	byImage map[digest.Digest]map[string]bool
}

// record is a cache entry: the step's image and the inputs of its key.
type record struct {
	Image  digest.Digest `json:"image"`
	Inputs Inputs        `json:"inputs"`
}

func newCache(dir string) (*cache, error) {
	for _, sub := range []string{"keys", "steps"} {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.RemoveTemps(d); err != nil {
			return nil, err
		}
	}
	return &cache{dir: dir}, nil
}

func (c *cache) keyPath(key string) string  { return filepath.Join(c.dir, "keys", key+".json") }
func (c *cache) stepPath(lin string) string { return filepath.Join(c.dir, "steps", lin+".json") }

// get returns the record of key; a missing or unreadable record is a miss.
func (c *cache) get(key string) (record, bool) {
	var r record
	return r, readJSON(c.keyPath(key), &r) == nil && r.Image != ""
}

// stepRecord is the last build at a place: its inputs and the image it
// produced, with which the record goes.
type stepRecord struct {
	Inputs
	Result digest.Digest `json:"result,omitempty"`
}

// last returns the inputs of the last build at the place lin.
func (c *cache) last(lin string) (*Inputs, bool) {
	var rec stepRecord
	if readJSON(c.stepPath(lin), &rec) != nil {
		return nil, false
	}
	return &rec.Inputs, true
}

func (c *cache) put(key string, r record) error {
	c.index(c.keyPath(key), r.Image, r.Inputs.Parent)
	return writeJSON(c.keyPath(key), r)
}

// remember records in, which produced the image result, as the last build
// at lin, unless it already is.
func (c *cache) remember(lin string, in Inputs, result digest.Digest) error {
	var known stepRecord
	if readJSON(c.stepPath(lin), &known) == nil && known.Key() == in.Key() && known.BaseImage == in.BaseImage && known.Result == result {
		return nil
	}
	c.index(c.stepPath(lin), in.Parent, result)
	return writeJSON(c.stepPath(lin), stepRecord{Inputs: in, Result: result})
}

// index notes that the record at path points at images, once the index
// is read.
func (c *cache) index(path string, images ...digest.Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byImage == nil {
		return
	}
	for _, id := range images {
		if id == "" {
			continue
		}
		if c.byImage[id] == nil {
			c.byImage[id] = map[string]bool{}
		}
		c.byImage[id][path] = true
	}
}

// SweepCache removes the cache records that point at an image live reports
// false for: a key record whose image or parent image is gone, a step
// record whose parent or result is gone. It returns how many it removed.
// Reading every record happens once, at the first sweep; later sweeps read
// only the records of images that are gone.
func (b *Builder) SweepCache(ctx context.Context, live func(digest.Digest) bool) (int, error) {
	c := b.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byImage == nil {
		if err := c.readIndexLocked(); err != nil {
			return 0, fmt.Errorf("read build cache: %w", err)
		}
	}
	n := 0
	for id, paths := range c.byImage {
		if live(id) {
			continue
		}
		delete(c.byImage, id)
		for path := range paths {
			// The record may have been rewritten since; remove it only if
			// it still points at a gone image.
			if c.deadLocked(path, live) {
				if err := os.Remove(path); err == nil {
					n++
				} else if !errors.Is(err, fs.ErrNotExist) {
					return n, fmt.Errorf("remove build cache record: %w", err)
				}
			}
		}
	}
	return n, nil
}

// deadLocked reports whether the record at path points at an image that
// is gone (a record that cannot be read is dead too).
func (c *cache) deadLocked(path string, live func(digest.Digest) bool) bool {
	gone := func(id digest.Digest) bool { return id != "" && !live(id) }
	if filepath.Base(filepath.Dir(path)) == "keys" {
		var r record
		return readJSON(path, &r) != nil || r.Image == "" || gone(r.Image) || gone(r.Inputs.Parent)
	}
	var rec stepRecord
	return readJSON(path, &rec) != nil || gone(rec.Parent) || gone(rec.Result)
}

// readIndexLocked reads every record into c.byImage; records that cannot
// be read are indexed under "" (always dead).
func (c *cache) readIndexLocked() error {
	c.byImage = map[digest.Digest]map[string]bool{}
	add := func(path string, id digest.Digest) {
		if c.byImage[id] == nil {
			c.byImage[id] = map[string]bool{}
		}
		c.byImage[id][path] = true
	}
	for _, sub := range []string{"keys", "steps"} {
		dir := filepath.Join(c.dir, sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			c.byImage = nil
			return err
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".json") {
				continue // a record being written
			}
			path := filepath.Join(dir, e.Name())
			if sub == "keys" {
				var r record
				if readJSON(path, &r) != nil || r.Image == "" {
					add(path, "")
					continue
				}
				add(path, r.Image)
				if r.Inputs.Parent != "" {
					add(path, r.Inputs.Parent)
				}
				continue
			}
			var rec stepRecord
			if readJSON(path, &rec) != nil {
				add(path, "")
				continue
			}
			for _, id := range []digest.Digest{rec.Parent, rec.Result} {
				if id != "" {
					add(path, id)
				}
			}
		}
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSON records v at path atomically but without fsync: the records are
// a cache, and one lost to a power cut only costs a rebuild of its step.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Replace(path, b, 0o600)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
