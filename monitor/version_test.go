package monitor

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseReady(t *testing.T) {
	for _, c := range []struct {
		line    string
		version int
		ok      bool
	}{
		{readyLine(), ProtocolVersion, true},
		{"ready\n", 0, true}, // monitors before the version
		{"ready 7\n", 7, true},
		{"ready", 0, false},
		{"ready x\n", 0, false},
		{"steady 1\n", 0, false},
		{"", 0, false},
	} {
		v, ok := parseReady(c.line)
		if v != c.version || ok != c.ok {
			t.Errorf("parseReady(%q) = %d, %v; want %d, %v", c.line, v, ok, c.version, c.ok)
		}
	}
}

// TestConnectOtherVersion: a monitor that answers its state without this
// gantryd's protocol version (an older monitor's reply) is a VersionError
// that says so, with the state it gave; no client is returned.
func TestConnectOtherVersion(t *testing.T) {
	dir := fakeMonitor(t, `{"state":{"pid":4242,"monitorPid":4241}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, st, err := Connect(ctx, dir)
	var verr *VersionError
	if !errors.As(err, &verr) || verr.Version != 0 || cli != nil {
		t.Fatalf("Connect = %v, %v; want a VersionError of version 0 and no client", cli, err)
	}
	if st.Pid != 4242 {
		t.Errorf("state pid %d, want 4242", st.Pid)
	}
	if msg := err.Error(); !strings.Contains(msg, "older gantry-monitor") || !strings.Contains(msg, "version "+strconv.Itoa(ProtocolVersion)) {
		t.Errorf("error %q does not say which versions", msg)
	}
}

// TestConnectAdoptsOlderVersions: monitors of the versions gantryd adopts
// (an upgrade keeps the running containers) get a client, a newer one a
// VersionError.
func TestConnectAdoptsOlderVersions(t *testing.T) {
	for v := OldestAdoptedVersion; v <= ProtocolVersion+1; v++ {
		dir := fakeMonitor(t, `{"state":{"pid":4242,"monitorPid":4241,"version":`+strconv.Itoa(v)+`}}`)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cli, st, err := Connect(ctx, dir)
		cancel()
		var verr *VersionError
		switch {
		case v <= ProtocolVersion && (err != nil || cli == nil || st.Version != v):
			t.Errorf("Connect to a version %d monitor = %v, %+v, %v; want a client", v, cli, st, err)
		case v > ProtocolVersion && (!errors.As(err, &verr) || verr.Version != v || cli != nil):
			t.Errorf("Connect to a version %d monitor = %v, %v; want a VersionError", v, cli, err)
		}
	}
}

// fakeMonitor listens on a monitor's socket in a new directory and answers
// every request with reply (a JSON line); it returns the directory.
func fakeMonitor(t *testing.T, reply string) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, sockName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(conn).ReadString('\n')
			conn.Write([]byte(reply + "\n"))
			conn.Close()
		}
	}()
	return dir
}
