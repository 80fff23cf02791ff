package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUnixSocketNeverOpen binds sockets under umask 000 while another
// goroutine watches the path: no mode wider than 0660 may ever be seen.
// (Binding, then chmodding, showed srwxrwxrwx for an instant.)
func TestUnixSocketNeverOpen(t *testing.T) {
	old := unix.Umask(0)
	defer unix.Umask(old)
	dir := t.TempDir()
	for i := range 300 {
		path := filepath.Join(dir, "s.sock")
		var stop, widest atomic.Uint32
		done := make(chan struct{})
		go func() {
			defer close(done)
			for stop.Load() == 0 {
				if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSocket != 0 {
					if m := uint32(st.Mode().Perm()); m&^0o660 != 0 {
						widest.Store(m)
					}
				}
			}
		}()
		l, err := newUnixSocket(path, os.Getgid())
		stop.Store(1)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Lstat(path)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m := widest.Load(); m != 0 {
			t.Fatalf("bind %d: the socket was seen with mode %o, more than 0660", i, m)
		}
		if st.Mode().Perm() != 0o660 {
			t.Fatalf("socket mode %o, want 0660", st.Mode().Perm())
		}
	}
}

func TestParseHosts(t *testing.T) {
	for _, tc := range []struct {
		in    string
		tls   bool
		want  string
		error string
	}{
		{in: "", want: "unix:///run/gantry.sock"},
		{in: "unix://", want: "unix:///run/gantry.sock"},
		{in: "unix:///tmp/g.sock", want: "unix:///tmp/g.sock"},
		{in: "tcp://", want: "tcp://localhost:2375"},
		{in: "tcp://", tls: true, want: "tcp://localhost:2376"},
		{in: "tcp://:2380", want: "tcp://localhost:2380"},
		{in: "tcp://0.0.0.0:2376", want: "tcp://0.0.0.0:2376"},
		{in: "127.0.0.1:2375", want: "tcp://127.0.0.1:2375"},
		{in: "tcp://[::1]:2375", want: "tcp://[::1]:2375"},
		{in: "fd://", want: "fd://"},
		{in: "fd://3", want: "fd://3"},
		{in: "tcp://1.2.3.4:99999", error: "invalid bind address format: tcp://1.2.3.4:99999"},
		{in: "tcp://1.2.3.4:2375/path", error: "invalid bind address (tcp://1.2.3.4:2375/path): should not contain a path element"},
		{in: "npipe:////./pipe/x", error: "invalid bind address format: npipe:////./pipe/x"},
	} {
		specs, err := parseHosts([]string{tc.in}, tc.tls)
		if tc.error != "" {
			if err == nil || err.Error() != tc.error {
				t.Errorf("parse %q: error %v, want %q", tc.in, err, tc.error)
			}
			continue
		}
		if err != nil || len(specs) != 1 || specs[0].String() != tc.want {
			t.Errorf("parse %q = %v, %v; want %s", tc.in, specs, err, tc.want)
		}
	}
}

// TestPlainTCP: plain TCP is served on loopback only, unless --tls=false
// or --tlsverify=false says it is meant.
func TestPlainTCP(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-H", "tcp://127.0.0.1:2375"}, true},
		{[]string{"-H", "tcp://localhost:2375"}, true},
		{[]string{"-H", "tcp://[::1]:2375"}, true},
		{[]string{"-H", "tcp://0.0.0.0:2375"}, false},
		{[]string{"-H", "tcp://10.1.2.3:2375"}, false},
		{[]string{"-H", "tcp://0.0.0.0:2375", "--tls=false"}, true},
		{[]string{"-H", "tcp://0.0.0.0:2375", "--tlsverify=false"}, true},
		{[]string{"-H", "unix:///tmp/x.sock"}, true},
	} {
		_, err := load(append(tc.args, "--config-file", writeConfig(t, "")))
		if tc.ok && err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "refusing to serve the API on a non-loopback address without --tlsverify")) {
			t.Errorf("%v: got %v, want a refusal", tc.args, err)
		}
	}
}
