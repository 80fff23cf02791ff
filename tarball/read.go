package tarball

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/internal/limit"
	"github.com/gantry/gantry/internal/stream"
)

// LayerStore keeps the layers of the images an archive holds.
type LayerStore interface {
	// Apply stores the uncompressed layer tar r on top of the chain parent
	// ("" for a base layer), reading r to its end, and returns what it
	// stored. An error reading r comes back wrapped.
	Apply(ctx context.Context, parent digest.Digest, r io.Reader) (StoredLayer, error)
}

// StoredLayer is a layer LayerStore.Apply stored.
type StoredLayer struct {
	ChainID digest.Digest
	DiffID  digest.Digest      // the sha256 of the tar Apply read
	Blob    ocispec.Descriptor // the blob that keeps the tar
}

// Loaded is an image read from an archive: its layers are stored, the image
// itself is for the caller to record.
type Loaded struct {
	Config []byte               // the config as it was in the archive; its digest is the image ID
	Layers []ocispec.Descriptor // the stored blobs, base first
	Refs   []reference.Named    // the names the archive gives it
}

// Progress is told how far the extraction of a layer is: id is the short
// chain ID Docker shows, current and total count bytes of the layer's file
// in the archive.
type Progress func(id string, current, total int64)

// smallFile is the size up to which an archive entry is kept in memory;
// larger ones not extracted as they arrive are spooled to a file.
const smallFile = 1 << 20

// Read reads an image archive from r, which may be compressed (gzip, bzip2,
// xz or zstd) and need not be seekable: Docker's manifest.json format, old
// (one directory per layer) or new (an OCI layout with manifest.json), or a
// plain OCI layout (names from the index's annotations). Layers may be
// uncompressed, gzip or zstd tars; each is stored with ls and checked
// against the diff IDs of its image's config. Entries are spooled in
// tmpDir when the archive lists its images after their layers (Docker
// does); an archive whose manifest.json and configs come first (Write's)
// has its layers stored as they stream in.
//
// A malformed, corrupt or truncated archive, or a layer that does not match
// its diff ID, is an invalid-argument error. After an error no image is
// recorded, but layers stored before it are left for garbage collection.
func Read(ctx context.Context, r io.Reader, tmpDir string, ls LayerStore, progress Progress) ([]Loaded, error) {
	plain, err := compression.DecompressStream(r)
	if err != nil {
		return nil, invalid("read image archive: %v", err)
	}
	defer plain.Close()
	spool, err := os.MkdirTemp(tmpDir, "load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(spool)
	rd := &reader{ctx: ctx, spool: spool, ls: ls, progress: progress,
		files: map[string]*entry{}, links: map[string]string{}, stored: map[storeKey]StoredLayer{}}
	if err := rd.readAll(tar.NewReader(plain)); err != nil {
		return nil, err
	}
	items, refs, err := rd.images()
	if err != nil {
		return nil, err
	}
	out := make([]Loaded, len(items))
	for i, item := range items {
		if out[i], err = rd.load(item); err != nil {
			return nil, err
		}
		out[i].Refs = refs[i]
	}
	return out, nil
}

// reader is the state of one Read.
type reader struct {
	ctx      context.Context
	spool    string
	ls       LayerStore
	progress Progress
	files    map[string]*entry     // regular files by cleaned name
	links    map[string]string     // symbolic and hard links: name -> target name
	plan     map[string]*placement // from a manifest.json read before the layers
	stored   map[storeKey]StoredLayer
}

// entry is a regular file of the archive.
type entry struct {
	data      []byte        // a small file's content
	path      string        // where a large file was spooled
	size      int64         // its length
	digest    digest.Digest // the sha256 of its bytes; "" until needed (a large uncompressed layer's is its diff ID)
	extracted bool          // stored as it arrived, so neither data nor path holds it
}

// storeKey is a layer file applied on top of a chain.
type storeKey struct {
	name   string
	parent digest.Digest
}

// placement is where manifest.json puts a layer file: the layer files
// beneath it and the config of an image using it. A file placed on two
// different stacks is ambiguous and never extracted as it arrives.
type placement struct {
	below     []string
	config    string
	index     int
	ambiguous bool
}

// readAll walks the archive once, extracting what it can at once and
// keeping the rest.
func (rd *reader) readAll(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return invalid("read image archive: %v", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			if rd.links[name], err = cleanName(target); err != nil {
				return err
			}
		case tar.TypeLink:
			if rd.links[name], err = cleanName(hdr.Linkname); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := rd.readFile(name, hdr.Size, tr); err != nil {
				return err
			}
		}
	}
}

// cleanName turns an entry name into a path relative to the archive's
// root; names that leave it are refused.
func cleanName(name string) (string, error) {
	clean := strings.TrimPrefix(path.Clean(name), "/")
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", invalid("invalid image archive: entry %q leaves the archive", name)
	}
	return clean, nil
}

// readFile takes in one regular file: stored at once when it is a layer
// whose place is known, else kept in memory or spooled. Its digest is
// computed from its bytes when it may be needed and cannot be had for free:
// an uncompressed layer's is the diff ID its extraction computes anyway.
func (rd *reader) readFile(name string, size int64, r io.Reader) error {
	e := &entry{size: size}
	rd.files[name] = e
	src := newArchiveReader(r)
	if parent, id, ok := rd.ready(name); ok {
		_, d, err := rd.extract(name, parent, id, src, size)
		if err != nil {
			return err
		}
		e.extracted, e.digest = true, d
		return nil
	}
	if size <= smallFile {
		src.hash()
		data, err := io.ReadAll(src)
		if err != nil {
			return invalid("read image archive: %s: %v", name, err)
		}
		e.data = data
	} else {
		if src.compressed() {
			src.hash()
		}
		if err := rd.spoolFile(e, name, src); err != nil {
			return err
		}
	}
	e.digest = src.digest("")
	if name == manifestFile {
		return rd.planFrom()
	}
	return nil
}

// spoolFile copies a large entry to a file of the spool directory.
func (rd *reader) spoolFile(e *entry, name string, src *archiveReader) error {
	f, err := os.CreateTemp(rd.spool, "entry-")
	if err != nil {
		return err
	}
	e.path = f.Name()
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if src.err != nil {
		return invalid("read image archive: %s: %v", name, src.err)
	}
	if err != nil {
		return fmt.Errorf("spool %s: %w", name, err)
	}
	return nil
}

// planFrom learns from manifest.json where each layer file goes, so that
// layers arriving after it are stored as they stream in.
func (rd *reader) planFrom() error {
	items, err := rd.manifest()
	if err != nil {
		return err
	}
	rd.plan = map[string]*placement{}
	for _, item := range items {
		for i, name := range item.Layers {
			below := item.Layers[:i]
			p, ok := rd.plan[name]
			if !ok {
				rd.plan[name] = &placement{below: below, config: item.Config, index: i}
				continue
			}
			p.ambiguous = p.ambiguous || strings.Join(p.below, "\n") != strings.Join(below, "\n")
		}
	}
	return nil
}

// ready tells whether the layer file name can be stored as it arrives: the
// plan places it on one stack of layers, all of them stored, and its
// image's config is here. It returns the chain to store it on and the ID
// to report progress under.
func (rd *reader) ready(name string) (digest.Digest, string, bool) {
	p := rd.plan[name]
	if p == nil || p.ambiguous {
		return "", "", false
	}
	parent, ok := rd.chainOf(p.below)
	if !ok {
		return "", "", false
	}
	config, err := rd.config(p.config)
	if err != nil || p.index >= len(config.RootFS.DiffIDs) {
		return "", "", false
	}
	return parent, progressID(config.RootFS.DiffIDs[:p.index+1]), true
}

// progressID is the short chain ID Docker reports a layer's extraction
// under.
func progressID(diffIDs []digest.Digest) string {
	var chain digest.Digest
	for _, d := range diffIDs {
		chain = chainID(chain, d)
	}
	return chain.Encoded()[:12]
}

// chainOf returns the chain the layer files names make once stored, base
// first, if all of them are stored.
func (rd *reader) chainOf(names []string) (digest.Digest, bool) {
	var parent digest.Digest
	for _, name := range names {
		s, ok := rd.stored[storeKey{rd.resolve(name), parent}]
		if !ok {
			return "", false
		}
		parent = s.ChainID
	}
	return parent, true
}

// extract stores the layer file name, read from src, on top of parent,
// reading src to its end, and returns the layer and the digest of the
// file's bytes.
func (rd *reader) extract(name string, parent digest.Digest, id string, src *archiveReader, size int64) (StoredLayer, digest.Digest, error) {
	if src.compressed() {
		src.hash()
	}
	plain, err := compression.DecompressStream(src)
	if err != nil {
		return StoredLayer{}, "", invalid("read layer %s: %v", name, err)
	}
	defer plain.Close()
	layer := &stream.Source{R: plain}
	var in io.Reader = layer
	if rd.progress != nil {
		in = &progressReader{r: layer, src: src, id: id, total: size, report: rd.progress}
	}
	s, err := rd.ls.Apply(rd.ctx, parent, in)
	if err == nil {
		_, err = io.Copy(io.Discard, src) // the file's digest covers all of it
	}
	switch {
	case src.err != nil:
		return StoredLayer{}, "", invalid("read layer %s: %v", name, src.err)
	case layer.Err != nil:
		return StoredLayer{}, "", invalid("read layer %s: %v", name, layer.Err)
	case err != nil:
		return StoredLayer{}, "", fmt.Errorf("layer %s: %w", name, err)
	}
	rd.stored[storeKey{name, parent}] = s
	return s, src.digest(s.DiffID), nil
}

// resolve follows links to the regular file a name stands for.
func (rd *reader) resolve(name string) string {
	for range 16 {
		target, ok := rd.links[name]
		if !ok {
			break
		}
		name = target
	}
	return name
}

// open returns the content of the regular file name stands for.
func (rd *reader) open(name string) (io.ReadCloser, *entry, error) {
	e := rd.files[rd.resolve(name)]
	switch {
	case e == nil:
		return nil, nil, invalid("invalid image archive: %s is missing", name)
	case e.extracted:
		return nil, nil, invalid("invalid image archive: %s is needed again after it was extracted", name)
	case e.path != "":
		f, err := os.Open(e.path)
		return f, e, err
	}
	return io.NopCloser(bytes.NewReader(e.data)), e, nil
}

// readEntry returns the whole content of the file name stands for, checked
// against its name if that is an OCI blob path.
// Documents larger than limit.Document are refused unread.
func (rd *reader) readEntry(name string) ([]byte, error) {
	rc, e, err := rd.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if e.size > limit.Document {
		return nil, invalid("invalid image archive: %s is larger than the limit of %s", name, limit.Text)
	}
	data, err := io.ReadAll(io.LimitReader(rc, limit.Document))
	if err != nil {
		return nil, err
	}
	if e.digest == "" {
		e.digest = digest.FromBytes(data)
	}
	return data, checkBlob(name, e)
}

// checkBlob refuses an OCI blob whose content does not match its name.
func checkBlob(name string, e *entry) error {
	if d, ok := blobDigest(name); ok && d != e.digest {
		return invalid("invalid image archive: %s has digest %s", name, e.digest)
	}
	return nil
}

// load stores the layers of one image not stored yet, checks them against
// its config and returns the image.
func (rd *reader) load(item manifestItem) (Loaded, error) {
	raw, err := rd.readEntry(item.Config)
	if err != nil {
		return Loaded{}, err
	}
	var config ocispec.Image
	if err := json.Unmarshal(raw, &config); err != nil {
		return Loaded{}, invalid("invalid image archive: %s: %v", item.Config, err)
	}
	if err := checkDiffIDs(item.Config, &config); err != nil {
		return Loaded{}, err
	}
	diffIDs := config.RootFS.DiffIDs
	if len(diffIDs) != len(item.Layers) {
		return Loaded{}, invalid("invalid manifest, layers length mismatch: expected %d, got %d", len(diffIDs), len(item.Layers))
	}
	img := Loaded{Config: raw, Layers: []ocispec.Descriptor{}}
	var parent digest.Digest
	for i, name := range item.Layers {
		s, err := rd.layer(name, parent, progressID(diffIDs[:i+1]))
		if err != nil {
			return Loaded{}, err
		}
		if s.DiffID != diffIDs[i] {
			return Loaded{}, invalid("invalid diffID for layer %d: expected %q, got %q", i, diffIDs[i], s.DiffID)
		}
		img.Layers = append(img.Layers, s.Blob)
		parent = s.ChainID
	}
	return img, nil
}

// layer returns the layer file name stored on top of parent, storing it
// now if it was kept, and checks the file against its name.
func (rd *reader) layer(name string, parent digest.Digest, id string) (StoredLayer, error) {
	real := rd.resolve(name)
	s, ok := rd.stored[storeKey{real, parent}]
	if !ok {
		rc, e, err := rd.open(name)
		if err != nil {
			return StoredLayer{}, err
		}
		defer rc.Close()
		var d digest.Digest
		if s, d, err = rd.extract(real, parent, id, newArchiveReader(rc), e.size); err != nil {
			return StoredLayer{}, err
		}
		if e.digest == "" {
			e.digest = d
		}
	}
	return s, checkBlob(name, rd.files[real])
}

// invalid is an invalid-argument error: the archive is at fault.
func invalid(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// archiveReader reads an archive entry: it counts its bytes, hashes them
// once asked to, and remembers a failure to read them, which is the
// archive's fault (truncated, corrupt), not the store's.
type archiveReader struct {
	r   *bufio.Reader
	h   hash.Hash // nil until hash
	n   int64
	err error
}

func newArchiveReader(r io.Reader) *archiveReader {
	return &archiveReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// hash starts hashing; it must come before the first Read.
func (a *archiveReader) hash() { a.h = digest.SHA256.Hash() }

// compressed tells from the first bytes whether the entry is compressed.
func (a *archiveReader) compressed() bool {
	head, _ := a.r.Peek(10)
	return compression.Detect(head) != compression.None
}

func (a *archiveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if a.h != nil {
		a.h.Write(p[:n])
	}
	a.n += int64(n)
	if err != nil && err != io.EOF {
		a.err = err
	}
	return n, err
}

// digest returns the digest of the bytes read, or unhashed when they were
// not hashed.
func (a *archiveReader) digest(unhashed digest.Digest) digest.Digest {
	if a.h == nil {
		return unhashed
	}
	return digest.NewDigest(digest.SHA256, a.h)
}

// progressReader reports how much of an archive entry a layer's extraction
// has read: at the start, at most every 100 ms, and at the end.
type progressReader struct {
	r      io.Reader
	src    *archiveReader
	id     string
	total  int64
	last   time.Time
	done   bool
	report Progress
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.last.IsZero() {
		p.report(p.id, 0, p.total)
		p.last = time.Now()
	}
	n, err := p.r.Read(b)
	if err == io.EOF && !p.done {
		p.report(p.id, p.total, p.total)
		p.done = true
	} else if time.Since(p.last) >= 100*time.Millisecond {
		p.report(p.id, min(p.src.n, p.total), p.total)
		p.last = time.Now()
	}
	return n, err
}
