package layer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Changes lists what the snapshot in dir added (A), changed (C) and
// deleted (D) against parent, as `docker diff` shows it: dockerd's rules
// (moby's collectChanges), the parent directory of an added or deleted
// path counted as changed, a directory whose size, mode and time did not
// change left out, an overlay whiteout (or an opaque directory that hides
// a lower one) a deletion. Paths are absolute, in walk order. A missing
// snapshot or parent is a not-found error.
//
// hidden are paths the engine itself adds to every snapshot (the mount
// points of /etc/hosts and the like, which dockerd keeps in an init
// layer): their addition is left out, and a directory that exists below
// and differs only in its modification time is listed only when
// something under it is.
func (s *Store) Changes(ctx context.Context, dir string, parent digest.Digest, hidden []string) ([]archive.Change, error) {
	chain, err := s.chain(parent)
	if err != nil {
		return nil, fmt.Errorf("snapshot changes: %w", err)
	}
	var changes []archive.Change
	switch drv := s.drv.(type) {
	case *overlay:
		changes, err = drv.changes(dir, chain, hidden)
	case *vfs:
		changes, err = drv.changes(dir, chain)
		changes = slices.DeleteFunc(changes, func(c archive.Change) bool {
			return c.Kind == archive.ChangeAdd && slices.Contains(hidden, c.Path)
		})
	default:
		err = errdefs.ErrNotImplemented.WithMessage("changes of a " + s.drv.name() + " snapshot")
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot changes: %w", err)
	}
	return changes, nil
}

func (o *overlay) changes(dir string, chain []digest.Digest, hidden []string) ([]archive.Change, error) {
	upper := filepath.Join(dir, "upper")
	if _, err := os.Lstat(upper); err != nil {
		return nil, snapshotNotFound(dir, err)
	}
	lowers := make([]string, len(chain))
	for i, id := range chain {
		lowers[i] = o.s.filesDir(id)
	}
	return overlayChanges(lowers, upper, hidden)
}

// overlayChanges walks upper, the upper directory of an overlay whose
// lower directories are lowers, and classifies each entry (see
// Store.Changes for hidden).
func overlayChanges(lowers []string, upper string, hidden []string) ([]archive.Change, error) {
	var changes []archive.Change
	changedDirs := map[string]bool{}
	// touched are directories that exist below and differ only in their
	// time: listed (as changed) before the first change under them.
	touched := map[string]bool{}
	emit := func(c archive.Change) {
		var up []string
		for d := filepath.Dir(c.Path); d != "/" && touched[d]; d = filepath.Dir(d) {
			up = append(up, d)
		}
		for i := len(up) - 1; i >= 0; i-- {
			delete(touched, up[i])
			changes = append(changes, archive.Change{Path: up[i], Kind: archive.ChangeModify})
		}
		changes = append(changes, c)
	}
	inLower := func(p string) (fs.FileInfo, error) {
		for _, l := range lowers {
			fi, err := os.Lstat(filepath.Join(l, p))
			if err == nil {
				return fi, nil
			}
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return nil, err
			}
		}
		return nil, nil
	}
	err := filepath.Walk(upper, func(full string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, full)
		if err != nil {
			return err
		}
		p := filepath.Join("/", rel)
		if p == "/" {
			return nil
		}
		lower, err := inLower(p)
		if err != nil {
			return err
		}
		change := archive.Change{Path: p, Kind: archive.ChangeAdd}
		switch {
		case isWhiteout(fi):
			change.Kind = archive.ChangeDelete
		case fi.IsDir() && isOpaque(full) && lower != nil:
			change.Kind = archive.ChangeDelete
		case lower != nil:
			if lower.IsDir() && fi.IsDir() && fi.Size() == lower.Size() && fi.Mode() == lower.Mode() {
				if !sameFsTime(fi.ModTime(), lower.ModTime()) && len(hidden) > 0 {
					touched[p] = true
					changedDirs[p] = true
					return nil
				}
				if sameFsTime(fi.ModTime(), lower.ModTime()) {
					return nil
				}
			}
			change.Kind = archive.ChangeModify
		}
		if change.Kind == archive.ChangeAdd && slices.Contains(hidden, p) {
			return nil
		}
		if fi.IsDir() {
			changedDirs[p] = true
		}
		if change.Kind != archive.ChangeModify {
			if parent := filepath.Dir(p); parent != "/" && !changedDirs[parent] {
				emit(archive.Change{Path: parent, Kind: archive.ChangeModify})
				changedDirs[parent] = true
			}
		}
		emit(change)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// isWhiteout reports an overlay whiteout: a character device 0:0.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && unix.Major(uint64(st.Rdev)) == 0 && unix.Minor(uint64(st.Rdev)) == 0
}

// isOpaque reports an overlay opaque directory (trusted.overlay.opaque=y).
func isOpaque(dir string) bool {
	buf := make([]byte, 1)
	n, err := unix.Lgetxattr(dir, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// sameFsTime compares times as moby does: equal, or the same second with
// one of them without nanoseconds (tar keeps seconds only).
func sameFsTime(a, b time.Time) bool {
	return a.Equal(b) || (a.Unix() == b.Unix() && (a.Nanosecond() == 0 || b.Nanosecond() == 0))
}
