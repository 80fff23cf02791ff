// Package integration holds the end-to-end tests of Gantry: they start a real
// gantryd (bin/gantryd) on a temporary data root and socket, and drive it with
// the real docker CLI, the Python Docker SDK, the Go client and bin/gantry.
//
// The tests need root, runc and the docker CLI; they skip with the reason
// otherwise. With GANTRY_TEST_DOCKER_HOST set (e.g. unix:///var/run/docker.sock)
// they target that already running daemon instead of starting gantryd, which
// is how the tests themselves are checked against Docker.
package integration

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Environment variables that change what the tests target.
const (
	// envDockerHost makes the tests use an already running daemon.
	envDockerHost = "GANTRY_TEST_DOCKER_HOST"
	// envDaemon overrides the daemon binary started by the tests (default
	// ../bin/gantryd). Pointing it at dockerd runs the restart tests against
	// Docker too.
	envDaemon = "GANTRY_TEST_DAEMON"
)

var (
	// skipReason is set by TestMain when the machine cannot run the tests.
	skipReason string
	// busyboxTar is the path of the busybox rootfs tar built by TestMain.
	busyboxTar string
	// binDir holds gantryd and gantry.
	binDir string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gantry-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	skipReason = machineSkipReason()
	if skipReason == "" {
		busyboxTar = filepath.Join(dir, "busybox.tar")
		if err := writeBusyboxTar(busyboxTar); err != nil {
			fmt.Fprintln(os.Stderr, "build busybox rootfs:", err)
			return 1
		}
	}
	abs, err := filepath.Abs("../bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = abs
	return m.Run()
}

// machineSkipReason says why this machine cannot run the tests, or "".
func machineSkipReason() string {
	if testing.Short() {
		return "integration tests skipped in -short mode"
	}
	if os.Geteuid() != 0 {
		return "integration tests need root (they start gantryd, which mounts overlayfs and runs runc)"
	}
	needs := []struct{ bin, pkg string }{
		{"docker", "the docker CLI (Debian package docker-cli or docker.io)"},
		{"busybox", "busybox (Debian package busybox-static)"},
	}
	if os.Getenv(envDockerHost) == "" {
		needs = append(needs, struct{ bin, pkg string }{"runc", "runc (Debian package runc)"})
	}
	for _, n := range needs {
		if _, err := exec.LookPath(n.bin); err != nil {
			return "integration tests need " + n.pkg + ": " + n.bin + " not found on PATH"
		}
	}
	return ""
}

// writeBusyboxTar writes a rootfs tar made from the host's busybox: the
// binary in bin/, a symlink in bin/ for every applet, /etc/passwd with root
// and nobody (65534), /etc/group and the usual empty directories.
func writeBusyboxTar(path string) error {
	bbPath, err := exec.LookPath("busybox")
	if err != nil {
		return err
	}
	bb, err := os.ReadFile(bbPath)
	if err != nil {
		return err
	}
	list, err := exec.Command(bbPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	if !bytes.Contains(list, []byte("\nsh\n")) {
		// A dynamically linked busybox would not run inside the container.
		return fmt.Errorf("%s has no sh applet", bbPath)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Now().Truncate(time.Second)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "var"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := dir(d, mode); err != nil {
			return err
		}
	}
	if err := file("bin/busybox", 0o755, bb); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return err
		}
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")); err != nil {
		return err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
