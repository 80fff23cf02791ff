package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specUser resolves a Docker user string ("", "name", "uid", "name:group",
// "uid:gid", ...) against the rootfs's /etc/passwd and /etc/group, as Docker
// does: the primary gid comes first in AdditionalGids, then the user's
// supplementary groups, then the groupAdd ones in ascending order. It also
// returns the user's home ("/" when passwd has none). An unknown name is an
// invalid-argument error with Docker's text, e.g. "unable to find user
// nobody2: no matching entries in passwd file".
func specUser(rootfs, spec string, groupAdd []string) (specs.User, string, error) {
	passwd, err := specSecureJoin(rootfs, "/etc/passwd")
	if err != nil {
		return specs.User{}, "", err
	}
	group, err := specSecureJoin(rootfs, "/etc/group")
	if err != nil {
		return specs.User{}, "", err
	}
	// Missing files are fine: numeric ids are then taken as they are.
	eu, err := user.GetExecUserPath(spec, nil, passwd, group)
	if err != nil {
		return specs.User{}, "", specInvalid(err)
	}
	var extra []int
	if len(groupAdd) > 0 {
		if extra, err = user.GetAdditionalGroupsPath(groupAdd, group); err != nil {
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

// specSecureJoin returns the host path of p inside rootfs, resolving symlinks
// as if rootfs were "/": the result never leaves rootfs. Components that do not
// exist are joined as they are.
func specSecureJoin(rootfs, p string) (string, error) {
	resolved := "/"
	rest := filepath.Clean("/" + p)
	for links := 0; rest != "/"; {
		comp, tail, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		rest = "/" + tail
		if comp == "." || comp == "" {
			continue
		}
		if comp == ".." {
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, comp)
		fi, err := os.Lstat(filepath.Join(rootfs, next))
		if errors.Is(err, os.ErrNotExist) {
			resolved = next
			continue
		}
		if err != nil {
			return "", fmt.Errorf("resolve %s in rootfs: %w", p, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("resolve %s in rootfs: %w", p, syscall.ELOOP)
		}
		target, err := os.Readlink(filepath.Join(rootfs, next))
		if err != nil {
			return "", fmt.Errorf("resolve %s in rootfs: %w", p, err)
		}
		if !filepath.IsAbs(target) {
			target = resolved + "/" + target // resolved holds no symlinks: ".." is lexical
		}
		resolved, rest = "/", filepath.Clean("/"+target+rest)
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
