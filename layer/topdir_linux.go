package layer

import (
	"os"

	"golang.org/x/sys/unix"
)

// fsTopdirFL is FS_TOPDIR_FL of linux/fs.h, which x/sys/unix lacks.
const fsTopdirFL = 0x00020000

// spreadSubdirs marks dir as the top of directory hierarchies for ext4's
// Orlov allocator (chattr +T), so each layer staged in it gets its inodes
// from a block group with room to spare instead of the group the previous
// layer was just deleted from. Without it, on an ext4 without a journal,
// every new inode skips the thousands of recently deleted ones next to it
// and an import after an rmi spends seconds of kernel time
// (recently_deleted in __ext4_new_inode). Filesystems without the flag
// ignore it; failure only costs speed.
func spreadSubdirs(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopdirFL != 0 {
		return
	}
	_ = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags|fsTopdirFL)
}
