package builder

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ExtractContext extracts the build context read from r (a tar, plain or
// compressed, as the docker CLI sends it) into the empty directory dst,
// streaming: the context is never held in memory. Each regular file's
// content is digested as it arrives (beside the extraction, not read back
// after), and the digests are returned for Options.ContextSums. An entry
// whose name or hard-link target is absolute or contains "..", and a stream
// that is not a tar, are invalid-argument errors; dst may then hold part
// of the context and the caller removes it. Builder.ExtractContext is the
// same, writing only what changed since an earlier build's context.
func ExtractContext(ctx context.Context, r io.Reader, dst string) (*ContextSums, error) {
	c, err := receiveContext(ctx, r, dst, nil, "")
	if err != nil {
		return nil, err
	}
	return c.Sums, nil
}

// ContextSums are the content digests of an extracted context's regular
// files, taken from the stream as it was extracted, so that the steps'
// keys do not read the files again, and the record of every entry (type,
// mode, owner, size, time, link, xattrs) that lets the next build of the
// same context leave unchanged entries in place. A digest counts only
// while the file on disk has the size and modification time its entry
// gave (the context directory is the build's own; a file a later entry
// replaced by a hard link or another type has no digest): otherwise the
// file is read.
type ContextSums struct {
	files map[string]contextSum // by clean context path, no leading "/"
	// gen, unless empty, names the state of a synced context's files:
	// equal generations of a directory are equal trees (SetGeneration).
	gen string
}

// SetGeneration names the state of the synced context's tree: the store
// gives a new generation to a copy a sync changed, so that the builder
// may reuse what it derived from an earlier build's tree of the same
// directory and generation (the COPY sources' digests) without walking
// it. "" (a context received as a tar) reuses nothing.
func (c *ContextSums) SetGeneration(gen string) { c.gen = gen }

// contextSum is the record of one entry of a context.
type contextSum struct {
	typ                byte // tar type; TypeRegA is TypeReg
	mode               int64
	uid, gid           int
	size               int64
	mtime              int64 // nanoseconds, as the extraction set it
	link               string
	devmajor, devminor int64
	xattrs             string // "key=value\x00"..., sorted
	summed             bool   // sum holds the content's digest
	ino                uint64 // AddInode's: the digest holds for this inode alone
	sum                [sha256.Size]byte
}

// NewContextSums is an empty ContextSums, for AddInode.
func NewContextSums() *ContextSums {
	return &ContextSums{files: map[string]contextSum{}}
}

// AddInode records the digest of the regular file rel of a context whose
// files are never changed in place (a synced context: a changed file is a
// new inode): it counts while rel is the inode ino with size and mtime
// (nanoseconds), whatever its link count (a layer may share the inode).
func (c *ContextSums) AddInode(rel string, ino uint64, size, mtime int64, sum [sha256.Size]byte) {
	c.files[rel] = contextSum{typ: tar.TypeReg, size: size, mtime: mtime, ino: ino, summed: true, sum: sum}
}

// lookup is the digest of the file rel of the context if the stat st of
// it on disk matches what was extracted there.
func (c *ContextSums) lookup(rel string, st *unix.Stat_t) ([]byte, bool) {
	if c == nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, false
	}
	s, ok := c.files[rel]
	if !ok || !s.summed || s.size != st.Size || s.mtime != st.Mtim.Nano() {
		return nil, false
	}
	if s.ino != 0 && s.ino != st.Ino || s.ino == 0 && st.Nlink != 1 {
		return nil, false
	}
	return s.sum[:], true
}

// forget drops the record of rel and of everything below it: the builder
// removed it from the context.
func (c *ContextSums) forget(rel string) {
	if c == nil {
		return
	}
	c.gen = "" // the tree is no longer the generation's
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	delete(c.files, rel)
	for k := range c.files {
		if strings.HasPrefix(k, rel+"/") {
			delete(c.files, k)
		}
	}
}

// timespecNano is the modification time the extraction gives a file
// whose entry says t: tar.Writer rounds it to the second (the header's
// format is left to it), archive.Apply sets nothing before the epoch.
func timespecNano(t time.Time) int64 {
	t = t.Round(time.Second)
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return t.UnixNano()
}

// badEntry is a context entry refused by checkContextName.
type badEntry struct{ name, why string }

func (e *badEntry) Error() string { return fmt.Sprintf("entry %q %s", e.name, e.why) }

// checkContextName refuses names that are absolute or climb with "..".
func checkContextName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", &badEntry{name, "is an absolute path"}
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", &badEntry{name, "leaves the build context"}
		}
	}
	return name, nil
}

// rewriteTar copies the tar tr to w, passing each entry's name (and a hard
// link's target) through rename, which may refuse it. Entries renamed to ""
// are dropped.
func rewriteTar(tr *tar.Reader, w io.Writer, rename func(string) (string, error)) error {
	tw := tar.NewWriter(w)
	if err := copyTarEntries(tr, tw, rename); err != nil {
		return err
	}
	return tw.Close()
}

// copyTarEntries copies the entries of tr into tw, renamed as rewriteTar
// says; it leaves tw open.
func copyTarEntries(tr *tar.Reader, tw *tar.Writer, rename func(string) (string, error)) error {
	buf := make([]byte, 128<<10)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := rename(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, err = rename(hdr.Linkname); err != nil {
				return err
			}
		}
		hdr.Format = tar.FormatUnknown
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyBuffer(tw, tr, buf); err != nil {
			return err
		}
	}
}

// underDir returns a rename function for rewriteTar that puts entries under
// the directory dir (relative to the root, "" for the root), refusing names
// that leave it.
func underDir(dir string) func(string) (string, error) {
	return func(name string) (string, error) {
		clean := path.Clean("/" + name)
		if clean == "/" {
			return "", nil
		}
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				return "", &badEntry{name, "leaves the archive"}
			}
		}
		return path.Join(dir, clean[1:]), nil
	}
}
