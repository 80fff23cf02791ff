// Command seccompprobe tries, inside a container, the system calls Docker's
// default seccomp profile blocks and prints one line per call: its name, a
// tab, and "ok" or the errno's name. Each call is harmless: what it creates
// belongs to the probe's own process and goes with it. Built static
// (CGO_ENABLED=0) by the integration tests and copied into an image.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

type probe struct {
	name string
	call func() error
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		return // the child of the unshare probe: nothing to do
	}
	for _, p := range []probe{
		{"unshare(CLONE_NEWUSER)", unshareUser},
		{"add_key", addKey},
		{"keyctl", keyctl},
		{"request_key", requestKey},
		{"perf_event_open", perfEventOpen},
		{"userfaultfd", userfaultfd},
		{"kcmp", kcmp},
		{"personality(ADDR_NO_RANDOMIZE)", personality},
		{"set_mempolicy", setMempolicy},
		{"move_pages", movePages},
		{"fanotify_init", fanotifyInit},
		{"socket(AF_VSOCK)", socketVsock},
	} {
		fmt.Printf("%s\t%s\n", p.name, result(p.call()))
	}
}

func result(err error) string {
	if err == nil {
		return "ok"
	}
	if errno, ok := err.(syscall.Errno); ok {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return err.Error()
}

func errnoOf(_, _ uintptr, e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// unshareUser: a Go process has threads, and unshare(CLONE_NEWUSER) needs a
// single-threaded caller, so a forked child (one thread) makes the call
// before it runs the probe again with "child".
func unshareUser() error {
	cmd := exec.Command("/proc/self/exe", "child")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWUSER}
	err := cmd.Run()
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

const keyDesc = "gantry-seccomp-probe"

func addKey() error {
	_, err := unix.AddKey("user", keyDesc, []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
	return err
}

func keyctl() error {
	_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_PROCESS_KEYRING, 1, 0, 0)
	return err
}

// requestKey looks for the key addKey made, with no upcall (callout NULL).
func requestKey() error {
	typ, _ := unix.BytePtrFromString("user")
	desc, _ := unix.BytePtrFromString(keyDesc)
	ring := int32(unix.KEY_SPEC_PROCESS_KEYRING)
	return errnoOf(unix.Syscall6(unix.SYS_REQUEST_KEY, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)), 0, uintptr(ring), 0, 0))
}

func perfEventOpen() error {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Bits: unix.PerfBitDisabled}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// userfaultfd asks for user-mode faults only, which needs no privilege.
func userfaultfd() error {
	const uffdUserModeOnly = 1
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly, 0, 0)
	if e == 0 {
		unix.Close(int(fd))
		return nil
	}
	return e
}

func kcmp() error {
	const kcmpFile = 0
	pid := uintptr(os.Getpid())
	return errnoOf(unix.Syscall6(unix.SYS_KCMP, pid, pid, kcmpFile, 0, 0, 0))
}

// personality sets a persona Docker's profile does not allow, then restores
// the default.
func personality() error {
	const addrNoRandomize = 0x0040000
	if _, _, e := unix.Syscall(unix.SYS_PERSONALITY, addrNoRandomize, 0, 0); e != 0 {
		return e
	}
	unix.Syscall(unix.SYS_PERSONALITY, 0, 0, 0)
	return nil
}

func setMempolicy() error {
	const mpolDefault = 0
	return errnoOf(unix.Syscall(unix.SYS_SET_MEMPOLICY, mpolDefault, 0, 0))
}

// movePages moves no page of the probe's own process.
func movePages() error {
	return errnoOf(unix.Syscall6(unix.SYS_MOVE_PAGES, 0, 0, 0, 0, 0, 0))
}

// fanotifyInit asks for a group reporting file handles, which Linux 5.13+
// gives callers without CAP_SYS_ADMIN.
func fanotifyInit() error {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_REPORT_FID|unix.FAN_CLOEXEC, unix.O_RDONLY)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func socketVsock() error {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}
