package ctxsync

import (
	"os"
	"syscall"

	"github.com/tonistiigi/fsutil"
	"golang.org/x/sys/unix"
)

// copyRoot is the Root fsutil's receiver writes a copy through. The copy's
// files never have extended attributes (the receiver drops what the
// client sends), so the open with which fsutil's walker of the copy
// probes each file for them (O_RDONLY|O_NOFOLLOW|O_NONBLOCK, one open per
// file, half the cost of a sync that changes nothing) is answered EPERM,
// which fsutil takes for "none". Every other call goes to the root.
type copyRoot struct {
	fsutil.Root
}

const xattrProbe = os.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK

func (r copyRoot) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if flag == xattrProbe {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EPERM}
	}
	return r.Root.OpenFile(name, flag, perm)
}
