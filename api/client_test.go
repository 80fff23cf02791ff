package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

func newClient(t *testing.T, ts *testServer) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost("unix://"+ts.sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientVersionNegotiation(t *testing.T) {
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	ctx := context.Background()
	ping, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if ping.APIVersion != "1.47" || ping.OSType != "linux" {
		t.Errorf("ping = %+v, want API 1.47 on linux", ping)
	}
	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.APIVersion != "1.47" || v.MinAPIVersion != "1.24" || v.Version != "test" {
		t.Errorf("version = %+v", v)
	}
	if got := c.ClientVersion(); got != "1.47" {
		t.Errorf("negotiated %s, want 1.47", got)
	}
}

// runViaClient does what docker run does: create, attach, wait, start, then
// reads the attach stream to its end and the wait result.
func runViaClient(t *testing.T, c *client.Client, cfg *container.Config, stdin string) (stdout, stderr string, code int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	att, err := c.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdin: cfg.OpenStdin, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	if cfg.OpenStdin {
		if _, err := io.WriteString(att.Conn, stdin); err != nil {
			t.Fatal(err)
		}
	}
	if err := att.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	wait := c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-wait.Result:
		return out.String(), errOut.String(), res.StatusCode
	case err := <-wait.Error:
		t.Fatal(err)
	}
	return "", "", 0
}

func TestClientRun(t *testing.T) {
	tests := []struct {
		name             string
		cfg              container.Config
		stdin            string
		wantOut, wantErr string
		wantCode         int64
	}{
		{name: "exit code and both streams", cfg: container.Config{Image: "busybox", Cmd: []string{"exit", "3"}}, wantOut: "out\n", wantErr: "err\n", wantCode: 3},
		{name: "stdin reaches the container", cfg: container.Config{Image: "busybox", Cmd: []string{"cat"}, OpenStdin: true, StdinOnce: true}, stdin: "hello\n", wantOut: "hello\n", wantErr: "done\n"},
	}
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runViaClient(t, c, &tt.cfg, tt.stdin)
			if diff := cmp.Diff([]any{tt.wantOut, tt.wantErr, tt.wantCode}, []any{out, errOut, code}); diff != "" {
				t.Errorf("stdout, stderr, code (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientLogs(t *testing.T) {
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	_, _, _ = runViaClient(t, c, &container.Config{Image: "busybox", Cmd: []string{"exit", "0"}}, "")
	ctx := context.Background()
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	logs, err := c.ContainerLogs(ctx, list.Items[0].ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "all", Since: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, logs); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Errorf("logs stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestClientErrors(t *testing.T) {
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	ctx := context.Background()
	stopped, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox"}, Name: "stopped"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		call  func() error
		check func(error) bool
		text  string
	}{
		{"inspect missing is not found", func() error {
			_, err := c.ContainerInspect(ctx, "nope", client.ContainerInspectOptions{})
			return err
		}, errdefs.IsNotFound, "No such container: nope"},
		{"create missing image is not found (docker run pulls then)", func() error {
			_, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "nope"}})
			return err
		}, errdefs.IsNotFound, "No such image: nope"},
		{"kill not running is a conflict", func() error {
			_, err := c.ContainerKill(ctx, stopped.ID, client.ContainerKillOptions{})
			return err
		}, errdefs.IsConflict, "is not running"},
		{"stop not running (304) is success", func() error {
			_, err := c.ContainerStop(ctx, "stopped", client.ContainerStopOptions{})
			return err
		}, func(err error) bool { return err == nil }, ""},
		{"pull of an unknown image is not found", func() error {
			rc, err := c.ImagePull(ctx, "missing:latest", client.ImagePullOptions{})
			if err == nil {
				rc.Close()
			}
			return err
		}, errdefs.IsNotFound, "not found: manifest unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !tt.check(err) {
				t.Fatalf("error %v (%T) has the wrong class", err, err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q lacks %q", err, tt.text)
			}
		})
	}
}

func TestClientImportAndCommit(t *testing.T) {
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	ctx := context.Background()
	rc, err := c.ImageImport(ctx, client.ImageImportSource{Source: strings.NewReader("tar:rootfs"), SourceName: "-"}, "me/imp:1",
		client.ImageImportOptions{Message: "m", Changes: []string{"CMD [\"sh\"]", "ENV A=b"}})
	if err != nil {
		t.Fatal(err)
	}
	var msg jsonstream.Message
	if err := json.NewDecoder(rc).Decode(&msg); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if want := "sha256:" + hexID("tar:rootfs"); msg.Status != want {
		t.Errorf("import status %q, want %q", msg.Status, want)
	}
	want := []fakeImport{{Opts: ImportOptions{Repo: "me/imp:1", Message: "m", Changes: []string{"CMD [\"sh\"]", "ENV A=b"}}, Data: "tar:rootfs"}}
	if diff := cmp.Diff(want, ts.b.imports); diff != "" {
		t.Errorf("imports (-want +got):\n%s", diff)
	}

	if _, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox"}, Name: "src"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.ContainerCommit(ctx, "src", client.ContainerCommitOptions{Reference: "me/committed:v1", Comment: "c", Author: "a", Changes: []string{"EXPOSE 80"}, NoPause: true, Config: &container.Config{Env: []string{"X=1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "sha256:"+hexID("srcc") {
		t.Errorf("commit ID %q", res.ID)
	}
	got := ts.b.commits[0]
	wantCommit := CommitOptions{Container: "src", Repo: "docker.io/me/committed", Tag: "v1", Comment: "c", Author: "a", Changes: []string{"EXPOSE 80"}, Config: &container.Config{Env: []string{"X=1"}}}
	if diff := cmp.Diff(wantCommit, got); diff != "" {
		t.Errorf("commit options (-want +got):\n%s", diff)
	}
}
