package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/archive"
)

// specUser resolves a Docker user string ("", "name", "uid", "name:group",
// "uid:gid", ...) against /etc/passwd and /etc/group of the tree whose root
// directory is the descriptor root, as Docker does: the primary gid comes
// first in AdditionalGids, then the user's supplementary groups, then the
// groupAdd ones in ascending order. It also returns the user's home ("/"
// when passwd has none). An unknown name is an invalid-argument error with
// Docker's text, e.g. "unable to find user nobody2: no matching entries in
// passwd file"; so is an account file that is not a regular file or is
// larger than maxAccountFile.
func specUser(root int, spec string, groupAdd []string) (specs.User, string, error) {
	passwd, err := readAccountFile(root, "/etc/passwd")
	if err != nil {
		return specs.User{}, "", err
	}
	group, err := readAccountFile(root, "/etc/group")
	if err != nil {
		return specs.User{}, "", err
	}
	// Missing files are fine: numeric ids are then taken as they are.
	eu, err := user.GetExecUser(spec, nil, accountReader(passwd), accountReader(group))
	if err != nil {
		return specs.User{}, "", specInvalid(err)
	}
	var extra []int
	if len(groupAdd) > 0 {
		if extra, err = user.GetAdditionalGroups(groupAdd, accountReader(group)); err != nil {
			return specs.User{}, "", specInvalid(err)
		}
		slices.Sort(extra) // the library returns them in map order
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid), AdditionalGids: []uint32{uint32(eu.Gid)}}
	for _, g := range append(eu.Sgids, extra...) {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	home := eu.Home
	if home == "" {
		home = "/"
	}
	return u, home, nil
}

// specUserIn is specUser in the tree whose root directory is the path
// root.
func specUserIn(root, spec string, groupAdd []string) (specs.User, string, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return specs.User{}, "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(fd)
	return specUser(fd, spec, groupAdd)
}

// maxAccountFile bounds what specUser reads of /etc/passwd and /etc/group.
const maxAccountFile = 1 << 20

// readAccountFile reads the file p (/etc/passwd, /etc/group) of the tree
// whose root directory is root. The container may have replaced it by
// anything: p is resolved inside root (a symlink never leads to the host's
// file), opened without blocking (a FIFO), and must be a regular file of
// at most maxAccountFile bytes, else the error is an invalid argument. A
// missing file is nil, nil.
func readAccountFile(root int, p string) ([]byte, error) {
	fd, err := archive.OpenInRoot(root, p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s is not a regular file", p))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAccountFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(data) > maxAccountFile {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s is larger than %d bytes", p, maxAccountFile))
	}
	return data, nil
}

// accountReader reads data, or is nil (no file) when data is.
func accountReader(data []byte) io.Reader {
	if data == nil {
		return nil
	}
	return bytes.NewReader(data)
}

// specSecureJoin returns the host path of p inside rootfs, resolving symlinks
// as if rootfs were "/" (resolveLinks): the result never leaves rootfs.
// Components that do not exist are joined as they are.
func specSecureJoin(rootfs, p string) (string, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(root)
	resolved, err := resolveLinks(root, p)
	if err != nil {
		return "", fmt.Errorf("resolve %s in rootfs: %w", p, err)
	}
	return filepath.Join(rootfs, resolved), nil
}

// specMkdirAll creates directory p inside rootfs, without following symlinks
// out of it; the directories it creates (0755) belong to uid:gid. A component
// that exists and is not a directory is an invalid-argument error.
func specMkdirAll(rootfs, p string, uid, gid int) error {
	host, err := specSecureJoin(rootfs, p)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(rootfs, host)
	if err != nil {
		return fmt.Errorf("create %s in rootfs: %w", p, err)
	}
	dir := rootfs
	for _, comp := range strings.Split(rel, string(filepath.Separator)) {
		if comp == "." {
			continue
		}
		dir = filepath.Join(dir, comp)
		fi, err := os.Lstat(dir)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("create %s in rootfs: %s is not a directory", p, strings.TrimPrefix(dir, rootfs)))
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("create %s in rootfs: %w", p, err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create %s in rootfs: %w", p, err)
		}
		if uid == os.Geteuid() && gid == os.Getegid() {
			continue
		}
		if err := os.Lchown(dir, uid, gid); err != nil {
			return fmt.Errorf("create %s in rootfs: %w", p, err)
		}
	}
	return nil
}

// specInvalidError keeps err's text and chain and adds the invalid-argument class.
type specInvalidError struct{ err error }

func (e specInvalidError) Error() string   { return e.err.Error() }
func (e specInvalidError) Unwrap() []error { return []error{e.err, errdefs.ErrInvalidArgument} }

func specInvalid(err error) error { return specInvalidError{err} }
