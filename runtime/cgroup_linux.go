package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// KillCgroup SIGKILLs every process in the cgroup cgroupsPath (an OCI
// spec's linux.cgroupsPath, absolute: the directory of that path in every
// mounted hierarchy, v1 or v2) until none is left, and removes the empty
// cgroup directories; it returns how many processes it killed. It is for a
// container whose runc state is gone, when `runc kill` no longer knows it.
func KillCgroup(cgroupsPath string) (int, error) {
	if !filepath.IsAbs(cgroupsPath) || filepath.Clean(cgroupsPath) != cgroupsPath || cgroupsPath == "/" {
		return 0, fmt.Errorf("cgroup path %q: not an absolute path below the root", cgroupsPath)
	}
	dirs, err := cgroupDirs(cgroupsPath)
	if err != nil {
		return 0, err
	}
	// A paused container's processes take a SIGKILL only once thawed.
	for _, dir := range dirs {
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
		os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
	}
	killed := map[int]bool{}
	for round := 0; ; round++ {
		left := 0
		for _, dir := range dirs {
			for _, pid := range cgroupProcs(dir) {
				left++
				killed[pid] = true
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		if left == 0 {
			break
		}
		if round == 250 { // 5 s
			return len(killed), fmt.Errorf("cgroup %s: %d processes left after SIGKILL", cgroupsPath, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, dir := range dirs {
		if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
			return len(killed), fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
	return len(killed), nil
}

// cgroupDirs returns the existing directories of cgroupsPath in each
// cgroup hierarchy mounted in this mount namespace.
func cgroupDirs(cgroupsPath string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var dirs []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) || (fields[sep+1] != "cgroup" && fields[sep+1] != "cgroup2") {
			continue
		}
		root, mnt := unescapeMount(fields[3]), unescapeMount(fields[4])
		rel, ok := strings.CutPrefix(cgroupsPath, strings.TrimSuffix(root, "/"))
		if !ok || (rel != "" && rel[0] != '/') {
			continue
		}
		dir := filepath.Join(mnt, rel)
		if seen[dir] {
			continue
		}
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	return dirs, sc.Err()
}

// cgroupProcs reads the pids of a cgroup directory.
func cgroupProcs(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
