package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// fakeExecs are the fake backend's execs. An exec "runs" its Cmd:
//
//	exit N  writes "out\n" to stdout and "err\n" to stderr, exits N
//	cat     copies stdin to stdout, exits 0
//	nope    fails to start
var fakeExecs = struct {
	sync.Mutex
	m map[string]*fakeExec
}{m: map[string]*fakeExec{}}

type fakeExec struct {
	cfg  container.ExecCreateRequest
	code *int
}

func (b *fakeBackend) CreateExec(_ context.Context, name string, cfg container.ExecCreateRequest) (string, error) {
	c, err := b.container(name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	running := c.state == container.StateRunning
	c.mu.Unlock()
	if !running {
		return "", errdefs.ErrConflict.WithMessage("Container " + c.id + " is not running")
	}
	fakeExecs.Lock()
	defer fakeExecs.Unlock()
	id := hexID(fmt.Sprint(len(fakeExecs.m), time.Now().UnixNano()))
	fakeExecs.m[id] = &fakeExec{cfg: cfg}
	return id, nil
}

func fakeExecGet(id string) (*fakeExec, error) {
	fakeExecs.Lock()
	defer fakeExecs.Unlock()
	if e, ok := fakeExecs.m[id]; ok {
		return e, nil
	}
	return nil, errdefs.ErrNotFound.WithMessage("No such exec instance: " + id)
}

func (b *fakeBackend) StartExec(_ context.Context, id string, opts ExecStartOptions) error {
	e, err := fakeExecGet(id)
	if err != nil {
		return err
	}
	code := 0
	defer func() {
		fakeExecs.Lock()
		e.code = &code
		fakeExecs.Unlock()
	}()
	if opts.Detach {
		return nil
	}
	stdin, stdout, stderr, err := opts.GetStreams(!opts.Tty)
	if err != nil {
		return err
	}
	switch cmd := e.cfg.Cmd; cmd[0] {
	case "exit":
		code, _ = strconv.Atoi(cmd[1])
		io.WriteString(stdout, "out\n")
		io.WriteString(stderr, "err\n")
	case "cat":
		io.Copy(stdout, stdin)
	default:
		code = 126
		return errors.New(`OCI runtime exec failed: exec: "` + cmd[0] + `": executable file not found in $PATH: unknown`)
	}
	return nil
}

func (b *fakeBackend) ResizeExec(_ context.Context, id string, _, _ uint) error {
	_, err := fakeExecGet(id)
	return err
}

func (b *fakeBackend) ExecInspect(_ context.Context, id string) (*container.ExecInspectResponse, error) {
	e, err := fakeExecGet(id)
	if err != nil {
		return nil, err
	}
	fakeExecs.Lock()
	defer fakeExecs.Unlock()
	return &container.ExecInspectResponse{ID: id, ExitCode: e.code, Running: false}, nil
}

func (b *fakeBackend) ContainerTop(_ context.Context, name, psArgs string) (*container.TopResponse, error) {
	if _, err := b.container(name); err != nil {
		return nil, err
	}
	return &container.TopResponse{Titles: []string{"PID", "CMD"}, Processes: [][]string{{"1", "sleep " + psArgs}}}, nil
}

func (b *fakeBackend) ContainerStats(ctx context.Context, name string, stream, oneShot bool) (<-chan *container.StatsResponse, error) {
	c, err := b.container(name)
	if err != nil {
		return nil, err
	}
	out := make(chan *container.StatsResponse)
	go func() {
		defer close(out)
		for i := 1; ; i++ {
			s := &container.StatsResponse{ID: c.id, Name: "/" + c.name, NumProcs: uint32(i)}
			select {
			case out <- s:
			case <-ctx.Done():
				return
			}
			if !stream {
				return
			}
		}
	}()
	return out, nil
}

// execViaClient does what docker exec does: create, start attached, read
// the stream to its end, then inspect for the exit code.
func execViaClient(t *testing.T, c *client.Client, ctr string, stdin string, cmd ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := c.ExecCreate(ctx, ctr, client.ExecCreateOptions{Cmd: cmd, AttachStdin: stdin != "", AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	io.WriteString(resp.Conn, stdin)
	resp.CloseWrite()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, resp.Reader); err != nil {
		t.Fatal(err)
	}
	ins, err := c.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), ins.ExitCode
}

func TestExec(t *testing.T) {
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	ctx := context.Background()
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}, Name: "stopped"}); err != nil {
		t.Fatal(err)
	}
	ts.start(t, created.ID)

	t.Run("exit code and streams", func(t *testing.T) {
		out, errOut, code := execViaClient(t, c, created.ID, "", "exit", "4")
		if out != "out\n" || errOut != "err\n" || code != 4 {
			t.Errorf("exec = %q, %q, %d; want out, err, 4", out, errOut, code)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		if out, _, code := execViaClient(t, c, created.ID, "piped\n", "cat"); out != "piped\n" || code != 0 {
			t.Errorf("exec cat = %q, %d", out, code)
		}
	})
	t.Run("start failure goes to the stream", func(t *testing.T) {
		out, _, code := execViaClient(t, c, created.ID, "", "nope")
		if !strings.HasPrefix(out, "OCI runtime exec failed") || !strings.HasSuffix(out, "\r\n") || code != 126 {
			t.Errorf("exec nope = %q, %d; want the error text on stdout and 126", out, code)
		}
	})
	t.Run("detached is 200 with no body", func(t *testing.T) {
		e, err := c.ExecCreate(ctx, created.ID, client.ExecCreateOptions{Cmd: []string{"exit", "0"}})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := ts.do(t, "POST", "/v1.47/exec/"+e.ID+"/start", `{"Detach":true}`)
		if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "0" {
			t.Errorf("detached start = %d %q (Content-Length %q)", resp.StatusCode, body, resp.Header.Get("Content-Length"))
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/containers/nosuch/exec", `{"Cmd":["true"]}`, 404},
			{"POST", "/containers/stopped/exec", `{"Cmd":["true"]}`, 409},
			{"POST", "/exec/nosuch/start", `{}`, 404},
			{"GET", "/exec/nosuch/json", "", 404},
			{"POST", "/exec/nosuch/resize?h=1&w=2", "", 404},
			{"POST", "/exec/x/resize?h=a&w=2", "", 400},
		} {
			if resp, body := ts.do(t, tc.method, tc.path, tc.body); resp.StatusCode != tc.want {
				t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
			}
		}
	})
}

func TestTopAndStats(t *testing.T) {
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	ctx := context.Background()
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}}, Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	top, err := c.ContainerTop(ctx, "web", client.ContainerTopOptions{Arguments: []string{"-o", "pid"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"1", "sleep -o pid"}}, top.Processes); diff != "" {
		t.Errorf("top processes (-want +got):\n%s", diff)
	}

	resp, body := ts.do(t, "GET", "/containers/web/stats?stream=false", "")
	var s container.StatsResponse
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &s) != nil || s.ID != created.ID || s.Name != "/web" {
		t.Errorf("stats?stream=false = %d %q", resp.StatusCode, body)
	}
	if resp, _ := ts.do(t, "GET", "/containers/web/stats?stream=true&one-shot=true", ""); resp.StatusCode != 400 {
		t.Errorf("stream with one-shot = %d, want 400", resp.StatusCode)
	}
	res, err := c.ContainerStats(ctx, "web", client.ContainerStatsOptions{Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(res.Body)
	for want := uint32(1); want <= 3; want++ {
		if err := dec.Decode(&s); err != nil || s.NumProcs != want {
			t.Fatalf("sample %d of the stream: %+v, %v", want, s, err)
		}
	}
	res.Body.Close()
}
