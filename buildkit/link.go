package buildkit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	iarchive "github.com/gantry/gantry/internal/archive"
)

// How the two builders share layers: BuildKit's worker extracts a layer
// blob into an empty snapshot directory (snapshots/<n>/fs) that its
// overlay snapshotter then stacks as a lower directory. When gantryd has
// that layer (same diff ID on the same chain), the directory is replaced
// by a symbolic link to gantryd's layer directory (LinkDir) instead, and
// BuildKit's overlays stack gantryd's files: a FROM image gantryd has is
// neither copied nor extracted again. Garbage collection keeps every
// layer a snapshot links (LinkedChains, read under the collection lock);
// BuildKit removing the snapshot (its own GC, buildx prune) removes the
// link only.

// LinkDir replaces dir, an empty directory, by a symbolic link to target.
// A directory that is not empty (BuildKit wrote into it) is a conflict
// and stays as it is.
func LinkDir(dir, target string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("link snapshot: %w", err)
	}
	if !fi.IsDir() {
		return errdefs.ErrConflict.WithMessage("link snapshot: " + dir + " is not a directory")
	}
	if err := os.Remove(dir); err != nil { // fails unless empty
		return errdefs.ErrConflict.WithMessage("link snapshot: " + err.Error())
	}
	if err := os.Symlink(target, dir); err != nil {
		_ = os.Mkdir(dir, fi.Mode().Perm())
		return fmt.Errorf("link snapshot: %w", err)
	}
	return nil
}

// LinkedChains returns the chain IDs of gantryd's layers that the
// snapshots of the helper keeping its state in root link to (LinkDir):
// layers is gantryd's layer store directory, whose <hex>/diff
// directories are the targets.
func LinkedChains(root, layers string) ([]digest.Digest, error) {
	dir := SnapshotsDir(root)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("buildkit snapshots: %w", err)
	}
	var out []digest.Digest
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name(), "fs"))
		if err != nil {
			continue // a directory of BuildKit's own, or gone meanwhile
		}
		if filepath.Base(target) != "diff" || filepath.Dir(filepath.Dir(target)) != layers {
			continue
		}
		chain := digest.NewDigestFromEncoded(digest.SHA256, filepath.Base(filepath.Dir(target)))
		if chain.Validate() == nil {
			out = append(out, chain)
		}
	}
	return out, nil
}

// SnapshotSources names, for an extraction of a layer BuildKit built
// (layer.WithSources), the files of dir, the snapshot holding that layer's
// own files, whose inodes gantryd's copy of the layer may take instead of
// writing their content again: BuildKit made the layer's tar from them and
// never changes a committed snapshot. The extraction still reads the
// whole tar (the diff ID is checked) and links a file only when its size,
// mode, owner and time are the entry's (internal/archive; BuildKit's tars
// have times to the second, the linked file keeps its finer one, as in
// BuildKit's snapshot). A name resolves
// inside dir with no symbolic link on its way, or not at all.
func SnapshotSources(dir string) iarchive.Sources {
	return func(name string) (iarchive.Source, bool) {
		rel := path.Clean(strings.TrimLeft(name, "/"))
		if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			return iarchive.Source{}, false
		}
		parent, base := path.Split(rel)
		fd, err := unix.Openat2(unix.AT_FDCWD, filepath.Join(dir, parent), &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return iarchive.Source{}, false
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return iarchive.Source{}, false
		}
		return iarchive.Source{Path: filepath.Join(dir, parent, base), Dev: uint64(st.Dev), Ino: st.Ino, SecondTimes: true}, true
	}
}
