package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLogRotation: --log-opt max-size and max-file rotate the json log as
// Docker's driver does, logs reads across the files, --tail reads the
// end; --log-driver none keeps nothing; unknown options are refused.
func TestLogRotation(t *testing.T) {
	e := newEnv(t)
	n := name("rot")
	id := e.mustDocker(t, "run", "-d", "--name", n, "--log-opt", "max-size=20k", "--log-opt", "max-file=3", "busybox", "seq", "1", "20000")
	if got := e.mustDocker(t, "wait", n); got != "0" {
		t.Fatalf("wait: %s", got)
	}
	logs := lines(e.mustDocker(t, "logs", n))
	if len(logs) == 0 || logs[len(logs)-1] != "20000" || len(logs) > 60000/6 {
		t.Errorf("logs gave %d lines ending %q, want the last ones kept by 3 files of 20k", len(logs), logs[len(logs)-1:])
	}
	for i, l := range logs {
		if want := strconv.Itoa(20001 - len(logs) + i); l != want {
			t.Errorf("line %d is %q, want %s", i, l, want)
			break
		}
	}
	if got := e.mustDocker(t, "logs", "--tail", "3", n); got != "19998\n19999\n20000" {
		t.Errorf("logs --tail 3: %q", got)
	}
	if !e.External {
		dir := filepath.Join(e.Root, "containers", id)
		for _, f := range []string{id + "-json.log", id + "-json.log.1", id + "-json.log.2"} {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil || fi.Size() > 20<<10 {
				t.Errorf("%s: %v, %v; want at most 20 KiB", f, fi, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, id+"-json.log.3")); err == nil {
			t.Errorf("a fourth log file with max-file=3")
		}
	}

	none := name("nolog")
	if r := e.docker(t, "run", "--name", none, "--log-driver", "none", "busybox", "echo", "hi"); r.Code != 0 || r.Stdout != "hi\n" {
		t.Errorf("run --log-driver none:\n%s", r)
	}
	if r := e.docker(t, "logs", none); r.Code == 0 || !strings.Contains(r.Stderr, "does not support reading") {
		t.Errorf("logs of a container with --log-driver none:\n%s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-opt", "nosuch=1"}, "unknown log opt 'nosuch' for json-file log driver"},
		{[]string{"--log-driver", "nosuch"}, `error looking up logging plugin nosuch: plugin "nosuch" not found`},
	} {
		if r := e.docker(t, append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")...); r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("run %s:\n%s\nwant an error with %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
}

// TestLogDefaults: gantryd's --log-driver and --log-opt are the defaults
// of containers created without a driver, merged as dockerd merges them,
// and docker info shows the driver.
func TestLogDefaults(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	e.d.args = append(e.d.args, "--log-opt", "max-size=20k", "--log-opt", "max-file=2")
	e.stopDaemon(t)
	e.startDaemon(t)
	n := name("logdef")
	e.mustDocker(t, "run", "--name", n, "busybox", "seq", "1", "20000")
	id := e.inspectField(t, n, "{{.Id}}")
	if got := e.inspectField(t, n, "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}}"); got != "json-file 20k 2" {
		t.Errorf("log config of a container without one: %q, want json-file 20k 2", got)
	}
	if fi, err := os.Stat(filepath.Join(e.Root, "containers", id, id+"-json.log")); err != nil || fi.Size() > 20<<10 {
		t.Errorf("the log with gantryd's max-size=20k: %v, %v", fi, err)
	}
	if got := e.mustDocker(t, "logs", "--tail", "1", n); got != "20000" {
		t.Errorf("logs --tail 1: %q", got)
	}
	own := name("logown")
	e.mustDocker(t, "create", "--name", own, "--log-opt", "max-size=1m", "busybox", "true")
	if got := e.inspectField(t, own, "{{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}}"); got != "1m 2" {
		t.Errorf("a container's own max-size with gantryd's max-file: %q, want 1m 2", got)
	}

	e.d.args = append(e.d.args[:len(e.d.args)-4], "--log-driver", "none")
	e.stopDaemon(t)
	e.startDaemon(t)
	if got := e.mustDocker(t, "info", "--format", "{{.LoggingDriver}}"); got != "none" {
		t.Errorf("docker info LoggingDriver %q, want none", got)
	}
	quiet := name("lognone")
	e.mustDocker(t, "run", "--name", quiet, "busybox", "echo", "hi")
	if r := e.docker(t, "logs", quiet); r.Code == 0 || !strings.Contains(r.Stderr, "does not support reading") {
		t.Errorf("logs with gantryd's --log-driver none:\n%s", r)
	}
}

// TestLogCompress: --log-opt compress=true gzips the rotated files as
// Docker's json-file driver (<id>-json.log.1.gz ...), and logs reads them.
func TestLogCompress(t *testing.T) {
	e := newEnv(t)
	n := name("gz")
	e.mustDocker(t, "run", "--name", n, "--log-opt", "max-size=20k", "--log-opt", "max-file=3", "--log-opt", "compress=true", "busybox", "seq", "1", "20000")
	logs := lines(e.mustDocker(t, "logs", n))
	if len(logs) < 500 || logs[len(logs)-1] != "20000" {
		t.Fatalf("logs gave %d lines ending %q", len(logs), logs[len(logs)-1:])
	}
	for i, l := range logs {
		if want := strconv.Itoa(20001 - len(logs) + i); l != want {
			t.Fatalf("line %d is %q, want %s", i, l, want)
		}
	}
	if got := lines(e.mustDocker(t, "logs", "--tail", strconv.Itoa(len(logs)), n)); len(got) != len(logs) || got[0] != logs[0] {
		t.Errorf("logs --tail %d reaching into the gzipped files: %d lines from %q", len(logs), len(got), got[:1])
	}
	if !e.External {
		id := e.inspectField(t, n, "{{.Id}}")
		dir := filepath.Join(e.Root, "containers", id)
		for _, f := range []string{id + "-json.log.1.gz", id + "-json.log.2.gz"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("rotated file not gzipped: %v", err)
			}
		}
	}
	if r := e.docker(t, "run", "--rm", "--log-opt", "compress=true", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "compress cannot be true when max-file is less than 2 or max-size is not set") {
		t.Errorf("compress without max-size:\n%s", r)
	}
}

// TestLogLocal: --log-driver local keeps the log in moby's local format
// (local-logs/container.log, framed protobuf entries), rotated and gzipped
// with its options; logs, --tail and -f read it.
func TestLogLocal(t *testing.T) {
	e := newEnv(t)
	n := name("local")
	e.mustDocker(t, "run", "--name", n, "--log-driver", "local", "--log-opt", "max-size=20k", "--log-opt", "max-file=3", "busybox", "seq", "1", "20000")
	logs := lines(e.mustDocker(t, "logs", n))
	if len(logs) < 500 || logs[len(logs)-1] != "20000" {
		t.Fatalf("logs gave %d lines ending %q", len(logs), logs[len(logs)-1:])
	}
	for i, l := range logs {
		if want := strconv.Itoa(20001 - len(logs) + i); l != want {
			t.Fatalf("line %d is %q, want %s", i, l, want)
		}
	}
	if got := e.mustDocker(t, "logs", "--tail", "3", n); got != "19998\n19999\n20000" {
		t.Errorf("logs --tail 3: %q", got)
	}
	if got := lines(e.mustDocker(t, "logs", "--tail", strconv.Itoa(len(logs)), n)); len(got) != len(logs) || got[0] != logs[0] {
		t.Errorf("logs --tail %d into the gzipped files: %d lines from %q", len(logs), len(got), got[:1])
	}
	if !e.External {
		id := e.inspectField(t, n, "{{.Id}}")
		dir := filepath.Join(e.Root, "containers", id, "local-logs")
		for _, f := range []string{"container.log", "container.log.1.gz", "container.log.2.gz"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("local log file: %v", err)
			}
		}
	}
	f := name("localf")
	e.mustDocker(t, "run", "-d", "--name", f, "--log-driver", "local", "busybox", "sh", "-c", "echo one; sleep 1; echo two")
	if got := e.mustDocker(t, "logs", "-f", f); got != "one\ntwo" {
		t.Errorf("logs -f of a local log: %q", got)
	}
	if r := e.docker(t, "create", "--log-driver", "local", "--log-opt", "labels=x", "busybox"); r.Code == 0 || !strings.Contains(r.Stderr, "unknown log opt 'labels' for log driver local") {
		t.Errorf("local with labels:\n%s", r)
	}
}
