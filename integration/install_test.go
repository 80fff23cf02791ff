package integration

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstall: make install into a scratch DESTDIR puts the binaries and
// the systemd units in place under PREFIX, and the units are valid
// (systemd-analyze verify when there is one, else parsed here): the
// service runs the installed gantryd on the socket unit's socket, which is
// gantryd's default, group docker, mode 0660.
func TestInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	for _, b := range []string{"gantryd", "gantry", "gantry-monitor", "gantry-buildkitd"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			t.Fatalf("%s not found: run make build first", b)
		}
	}
	dest := t.TempDir()
	// -o build: install what bin/ holds, without rebuilding it under the
	// other tests' feet.
	cmd := exec.Command("make", "-o", "build", "install", "DESTDIR="+dest, "PREFIX=/usr/local")
	cmd.Dir = filepath.Dir(binDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(dest, "usr/local/bin")
	units := filepath.Join(dest, "usr/local/lib/systemd/system")
	for _, f := range []struct {
		path string
		mode os.FileMode
		same string
	}{
		{filepath.Join(bin, "gantryd"), 0o755, filepath.Join(binDir, "gantryd")},
		{filepath.Join(bin, "gantry"), 0o755, filepath.Join(binDir, "gantry")},
		{filepath.Join(bin, "gantry-monitor"), 0o755, filepath.Join(binDir, "gantry-monitor")},
		{filepath.Join(bin, "gantry-buildkitd"), 0o755, filepath.Join(binDir, "gantry-buildkitd")},
		{filepath.Join(units, "gantry.service"), 0o644, ""},
		{filepath.Join(units, "gantry.socket"), 0o644, ""},
	} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %o, want %o", f.path, st.Mode().Perm(), f.mode)
		}
		if f.same != "" {
			a, _ := os.ReadFile(f.path)
			b, _ := os.ReadFile(f.same)
			if !bytes.Equal(a, b) {
				t.Errorf("%s is not %s", f.path, f.same)
			}
		}
	}
	entries, _ := os.ReadDir(dest)
	if len(entries) != 1 || entries[0].Name() != "usr" {
		t.Errorf("make install wrote outside PREFIX: %v", entries)
	}

	service := parseUnit(t, filepath.Join(units, "gantry.service"))
	socket := parseUnit(t, filepath.Join(units, "gantry.socket"))
	for _, c := range []struct{ got, want string }{
		{service["Service.ExecStart"], "/usr/local/bin/gantryd -H fd://"},
		{service["Service.Type"], "notify"},
		{service["Service.ExecReload"], "/bin/kill -s HUP $MAINPID"},
		{service["Unit.Requires"], "gantry.socket"},
		{service["Install.WantedBy"], "multi-user.target"},
		{socket["Socket.ListenStream"], "/run/gantry.sock"},
		{socket["Socket.SocketGroup"], "docker"},
		{socket["Socket.SocketMode"], "0660"},
		{socket["Install.WantedBy"], "sockets.target"},
	} {
		if c.got != c.want {
			t.Errorf("unit setting %q, want %q", c.got, c.want)
		}
	}
	// The socket is the one gantryd serves by default, as clients expect.
	out, err := exec.Command(filepath.Join(bin, "gantryd"), "--help").CombinedOutput()
	if !strings.Contains(string(out), `(default [unix:///run/gantry.sock])`) {
		t.Errorf("gantryd --help (%v) does not give unix:///run/gantry.sock as the default host:\n%s", err, out)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the units were only parsed")
		return
	}
	// verify checks that ExecStart is executable: point it at the staged
	// binary, in a copy.
	dir := t.TempDir()
	svc, _ := os.ReadFile(filepath.Join(units, "gantry.service"))
	os.WriteFile(filepath.Join(dir, "gantry.service"), bytes.ReplaceAll(svc, []byte("/usr/local/bin/"), []byte(bin+"/")), 0o644)
	sock, _ := os.ReadFile(filepath.Join(units, "gantry.socket"))
	os.WriteFile(filepath.Join(dir, "gantry.socket"), sock, 0o644)
	out, err = exec.Command(analyze, "verify", filepath.Join(dir, "gantry.service"), filepath.Join(dir, "gantry.socket")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// parseUnit reads a systemd unit file into "Section.Key" -> value.
func parseUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Errorf("%s:%d: not a unit file line: %q", path, n, line)
				continue
			}
			kv[section+"."+strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}
