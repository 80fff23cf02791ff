package api

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dockerCLI runs the real docker CLI against the server; it skips when the
// CLI is not installed.
func dockerCLI(t *testing.T, ts *testServer, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not on PATH")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+ts.sock, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_CONTEXT=", "DOCKER_API_VERSION=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("docker %s hung; stdout %q stderr %q", strings.Join(args, " "), out.String(), errOut.String())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func TestDockerCLI(t *testing.T) {
	ts := startServer(t, Options{})
	tests := []struct {
		name      string
		stdin     string
		args      []string
		wantOut   []string // substrings of stdout
		wantErr   []string // substrings of stderr
		wantExact *string  // exact stdout
		wantCode  int
	}{
		{name: "version", args: []string{"version"}, wantOut: []string{"Server:", "API version:      1.47 (minimum version 1.24)", "Version:          test"}},
		{name: "ps", args: []string{"ps"}, wantOut: []string{"CONTAINER ID   IMAGE"}},
		{name: "images", args: []string{"images"}, wantOut: []string{"127.0.0.1:5055/a/b", "busybox"}},
		{name: "image inspect with registry name", args: []string{"image", "inspect", "--format", "{{.Id}}", "127.0.0.1:5055/a/b:1"}, wantOut: []string{"sha256:" + hexID("127.0.0.1:5055/a/b:1")}},
		{name: "run: output and exit code", args: []string{"run", "busybox", "exit", "3"}, wantExact: ptr("out\n"), wantErr: []string{"err\n"}, wantCode: 3},
		{name: "run -i: piped stdin arrives and ends", stdin: "line1\nline2\n", args: []string{"run", "-i", "busybox", "cat"}, wantExact: ptr("line1\nline2\n"), wantErr: []string{"done\n"}},
		{name: "run -d", args: []string{"run", "-d", "busybox", "echo", "x"}, wantOut: []string{"\n"}},
		{name: "run missing image tries to pull", args: []string{"run", "nope"}, wantErr: []string{"Unable to find image 'nope:latest' locally", "manifest for docker.io/library/nope:latest not found"}, wantCode: 125},
		{name: "stop missing", args: []string{"stop", "nope"}, wantErr: []string{"Error response from daemon: No such container: nope"}, wantCode: 1},
		{name: "unknown endpoint", args: []string{"plugin", "ls"}, wantErr: []string{"Error response from daemon: page not found"}, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := dockerCLI(t, ts, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, out, errOut)
			}
			if tt.wantExact != nil && out != *tt.wantExact {
				t.Errorf("stdout %q, want %q", out, *tt.wantExact)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
