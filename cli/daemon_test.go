package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// gantry runs the CLI against $GANTRY_TEST_HOST with stdin and returns what
// it printed and its exit status.
func gantry(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	host := os.Getenv("GANTRY_TEST_HOST")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = Run(ctx, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb}, append([]string{"-H", host}, args...))
	return out.String(), errb.String(), code
}

// TestAgainstDaemon drives the verbs through a real daemon (gantryd or
// dockerd). The image busybox:latest must be present.
func TestAgainstDaemon(t *testing.T) {
	if os.Getenv("GANTRY_TEST_HOST") == "" {
		t.Skip("GANTRY_TEST_HOST is not set: no daemon to test against")
	}
	name := fmt.Sprintf("gantry-test-%d", time.Now().UnixNano())
	t.Cleanup(func() { gantry(t, "", "rm", "-f", name, name+"-d") })

	for _, tc := range []struct {
		name       string
		stdin      string
		args       []string
		wantOut    string
		wantErrHas string
		wantCode   int
	}{
		{name: "run attached", args: []string{"run", "--network", "none", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"},
			wantOut: "out\n", wantErrHas: "err\n", wantCode: 3},
		{name: "run --rm", args: []string{"run", "--rm", "--network", "none", "busybox", "echo", "hi"}, wantOut: "hi\n"},
		{name: "run stdin pipe", stdin: "a\nb\n", args: []string{"run", "-i", "--rm", "--network", "none", "busybox", "cat"}, wantOut: "a\nb\n"},
		{name: "run env workdir user", args: []string{"run", "--rm", "--network", "none", "-e", "A=1", "-w", "/tmp", "-u", "1", "busybox", "sh", "-c", "echo $A $(pwd) $(id -u)"},
			wantOut: "1 /tmp 1\n"},
		{name: "run command not found", args: []string{"run", "--rm", "--network", "none", "busybox", "nosuchcmd"},
			wantErrHas: "executable file not found", wantCode: 127},
		{name: "run not executable", args: []string{"run", "--rm", "--network", "none", "busybox", "/etc"},
			wantErrHas: "permission denied", wantCode: 126},
		{name: "run detached", args: []string{"run", "-d", "--network", "none", "--name", name + "-d", "busybox", "sleep", "100"}},
		{name: "logs", args: []string{"logs", name}, wantOut: "out\n", wantErrHas: "err\n"},
		{name: "logs tail", args: []string{"logs", "--tail", "2", name}, wantOut: "out\n", wantErrHas: "err\n"},
		{name: "wait exited", args: []string{"wait", name}, wantOut: "3\n"},
		{name: "inspect format", args: []string{"inspect", "-f", "{{.State.ExitCode}} {{.Name}}", name}, wantOut: "3 /" + name + "\n"},
		{name: "ps filter", args: []string{"ps", "-a", "--filter", "name=" + name + "-d", "--format", "{{.Names}} {{.State}}"}, wantOut: name + "-d running\n"},
		{name: "kill", args: []string{"kill", name + "-d"}, wantOut: name + "-d\n"},
		{name: "image inspect", args: []string{"image", "inspect", "-f", "{{.Os}}", "busybox"}, wantOut: "linux\n"},
		{name: "inspect missing", args: []string{"inspect", "gantry-no-such-object"}, wantOut: "[]\n", wantErrHas: "Error: No such object: gantry-no-such-object", wantCode: 1},
		{name: "stop missing", args: []string{"stop", "gantry-no-such-ctr"}, wantErrHas: "Error response from daemon: No such container: gantry-no-such-ctr", wantCode: 1},
		{name: "rm", args: []string{"rm", name}, wantOut: name + "\n"},
		{name: "bad flag", args: []string{"run", "--no-such-flag", "busybox"}, wantErrHas: "unknown flag: --no-such-flag", wantCode: 125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := gantry(t, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			if tc.wantOut != "" && out != tc.wantOut || tc.wantOut == "" && tc.name != "run detached" && out != "" {
				t.Errorf("stdout %q, want %q", out, tc.wantOut)
			}
			if !strings.Contains(errOut, tc.wantErrHas) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.wantErrHas)
			}
		})
	}
}
