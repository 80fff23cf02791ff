package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestKillCgroup: the processes of a cgroup, found in each mounted
// hierarchy that has it, are killed and the cgroup directories removed.
func TestKillCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	name := "/gantry-killcgroup-test-" + strconv.Itoa(os.Getpid())
	dirs, err := cgroupDirs("/")
	if err != nil || len(dirs) == 0 {
		t.Skipf("no cgroup hierarchy mounted: %v", err)
	}
	var made []string
	for _, root := range dirs {
		dir := filepath.Join(root, name)
		if os.Mkdir(dir, 0o755) == nil {
			made = append(made, dir)
		}
	}
	t.Cleanup(func() {
		for _, d := range made {
			os.Remove(d)
		}
	})
	if len(made) == 0 {
		t.Skip("cannot make a cgroup")
	}
	var cmds []*exec.Cmd
	for i := 0; i < 3; i++ {
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		for _, d := range made {
			// (cpuset refuses members until given cpus: no matter)
			os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0)
		}
	}
	exited := make(chan struct{})
	go func() {
		for _, c := range cmds {
			c.Wait()
		}
		close(exited)
	}()
	n, err := KillCgroup(name)
	if err != nil || n != 3 {
		t.Fatalf("KillCgroup = %d, %v; want 3 killed", n, err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the processes run on")
	}
	for _, d := range made {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", d, err)
		}
	}
	if _, err := KillCgroup("relative/path"); err == nil {
		t.Error("a relative cgroup path is accepted")
	}
	if _, err := KillCgroup("/a/../b"); err == nil {
		t.Error("an unclean cgroup path is accepted")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/end\04`: `/end\04`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
