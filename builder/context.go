package builder

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive/compression"

	"github.com/gantry/gantry/internal/archive"
)

// ExtractContext extracts the build context read from r (a tar, plain or
// compressed, as the docker CLI sends it) into the directory dst, streaming:
// the context is never held in memory. An entry whose name or hard-link
// target is absolute or contains "..", and a stream that is not a tar, are
// invalid-argument errors; dst may then hold part of the context and the
// caller removes it.
func ExtractContext(ctx context.Context, r io.Reader, dst string) error {
	plain, err := compression.DecompressStream(r)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage("read build context: " + err.Error())
	}
	defer plain.Close()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(rewriteTar(tar.NewReader(plain), pw, checkContextName))
	}()
	_, err = archive.Apply(ctx, pr, dst, archive.Delete)
	pr.CloseWithError(errors.New("extraction ended"))
	if err != nil {
		var bad *badEntry
		if errors.As(err, &bad) || errors.Is(err, archive.ErrInvalid) || errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errdefs.ErrInvalidArgument.WithMessage("invalid build context: " + err.Error())
		}
		return fmt.Errorf("extract build context: %w", err)
	}
	return nil
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
		if _, err := io.Copy(tw, tr); err != nil {
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
