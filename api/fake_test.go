package api

import (
	"github.com/gantry/gantry/events"

	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
)

// fakeBackend is an in-memory Backend. Containers "run" their Cmd:
//
//	echo ARGS...  writes ARGS and a newline to stdout, exits 0
//	cat           copies stdin to stdout, then "done\n" to stderr, exits 0
//	exit N        writes "out\n" to stdout and "err\n" to stderr, exits N
//	tick N        writes "tick I\n" N times, 30 ms apart, exits 0
//	sleep         runs until stopped or killed (exit 137)
type fakeBackend struct {
	mu         sync.Mutex
	images     map[string]*image.InspectResponse
	containers map[string]*fakeContainer // by ID and by name
	nextID     int
	imports    []fakeImport
	commits    []CommitOptions
	tags       [][3]string
	listOpts   []ContainerListOptions
	imageOpts  []ImageListOptions
	volumes    fakeVolumes
	extracts   []fakeExtract
	bus        *events.Bus
}

type fakeImport struct {
	Opts ImportOptions
	Data string
}

type fakeContainer struct {
	id, name string
	cfg      *container.Config

	mu       sync.Mutex
	state    container.ContainerState
	exitCode int
	logs     []LogMessage
	changed  chan struct{} // closed and replaced on every new log line or state change
	exited   chan struct{} // closed when the current run ends
	stop     chan struct{}
	starts   int // runs started
	exits    int // runs ended
	stdin    io.ReadCloser
	stdout   io.Writer
	stderr   io.Writer
}

func newFakeBackend() *fakeBackend {
	b := &fakeBackend{images: map[string]*image.InspectResponse{}, containers: map[string]*fakeContainer{}, bus: events.New()}
	for _, name := range []string{"busybox", "busybox:latest", "127.0.0.1:5055/a/b:1", "apiprobe/x:latest"} {
		b.images[name] = &image.InspectResponse{ID: "sha256:" + hexID(name), RepoTags: []string{name}}
	}
	return b
}

func hexID(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

func (b *fakeBackend) Info(context.Context) (*system.Info, error) {
	return &system.Info{ID: "fake", Containers: len(b.containers), ServerVersion: "test"}, nil
}

func (b *fakeBackend) Version(context.Context) (*system.VersionResponse, error) {
	return &system.VersionResponse{Version: "test", Os: "linux", Arch: "amd64"}, nil
}

func (b *fakeBackend) ImportImage(_ context.Context, src io.Reader, opts ImportOptions) (string, error) {
	data, err := io.ReadAll(src)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(string(data), "tar:") {
		return "", errdefs.ErrInvalidArgument.WithMessage("archive/tar: invalid tar header")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.imports = append(b.imports, fakeImport{opts, string(data)})
	id := "sha256:" + hexID(string(data))
	if opts.Repo != "" {
		b.images[opts.Repo] = &image.InspectResponse{ID: id, RepoTags: []string{opts.Repo}}
	}
	return id, nil
}

func (b *fakeBackend) Images(_ context.Context, opts ImageListOptions) ([]image.Summary, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.imageOpts = append(b.imageOpts, opts)
	var out []image.Summary
	for name, img := range b.images {
		if opts.Filters["reference"] != nil && !opts.Filters["reference"][name] {
			continue
		}
		var tags []string // none for an untagged image, listed by its ID
		if len(img.RepoTags) > 0 {
			tags = []string{name}
		}
		out = append(out, image.Summary{ID: img.ID, RepoTags: tags, Size: img.Size})
	}
	return out, nil
}

func (b *fakeBackend) image(name string) (*image.InspectResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if img, ok := b.images[name]; ok {
		return img, nil
	}
	for _, img := range b.images {
		if img.ID == name {
			return img, nil
		}
	}
	return nil, errdefs.ErrNotFound.WithMessage("No such image: " + name)
}

func (b *fakeBackend) ImageInspect(_ context.Context, name string) (*ImageInspect, error) {
	img, err := b.image(name)
	if err != nil {
		return nil, err
	}
	return &ImageInspect{InspectResponse: *img}, nil
}

func (b *fakeBackend) ImageHistory(_ context.Context, name string) ([]image.HistoryResponseItem, error) {
	img, err := b.image(name)
	if err != nil {
		return nil, err
	}
	return []image.HistoryResponseItem{{ID: img.ID, CreatedBy: "/bin/sh -c #(nop) CMD", Tags: img.RepoTags}}, nil
}

func (b *fakeBackend) TagImage(_ context.Context, name, repo, tag string) error {
	img, err := b.image(name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tags = append(b.tags, [3]string{name, repo, tag})
	b.images[repo+":"+tag] = img
	return nil
}

func (b *fakeBackend) RemoveImage(_ context.Context, name string, force, _ bool) ([]image.DeleteResponse, error) {
	img, err := b.image(name)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.containers {
		if c.cfg.Image == name && !force {
			return nil, errdefs.ErrConflict.WithMessage("conflict: unable to remove repository reference " + strconv.Quote(name) + " (must force)")
		}
	}
	delete(b.images, name)
	return []image.DeleteResponse{{Untagged: name}, {Deleted: img.ID}}, nil
}

func (b *fakeBackend) Commit(_ context.Context, opts CommitOptions) (string, error) {
	if _, err := b.container(opts.Container); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.commits = append(b.commits, opts)
	return "sha256:" + hexID(opts.Container+opts.Comment), nil
}

func (b *fakeBackend) container(name string) (*fakeContainer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[name]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage("No such container: " + name)
	}
	return c, nil
}

func (b *fakeBackend) CreateContainer(_ context.Context, name string, cfg *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig) (container.CreateResponse, error) {
	if _, err := b.image(cfg.Image); err != nil {
		return container.CreateResponse{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.containers[name]; ok && name != "" {
		return container.CreateResponse{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Conflict. The container name %q is already in use", "/"+name))
	}
	b.nextID++
	c := &fakeContainer{
		id: hexID(strconv.Itoa(b.nextID)), name: name, cfg: cfg,
		state: container.StateCreated, changed: make(chan struct{}), exited: make(chan struct{}),
	}
	if c.name == "" {
		c.name = "c" + strconv.Itoa(b.nextID)
	}
	b.containers[c.id] = c
	b.containers[c.name] = c
	return container.CreateResponse{ID: c.id}, nil
}

func (b *fakeBackend) StartContainer(_ context.Context, name string) error {
	c, err := b.container(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == container.StateRunning {
		return errdefs.ErrNotModified
	}
	c.state = container.StateRunning
	c.starts++
	c.exited = make(chan struct{})
	c.stop = make(chan struct{})
	c.notifyLocked()
	go c.run()
	return nil
}

func (c *fakeContainer) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *fakeContainer) emit(stream, line string) {
	c.mu.Lock()
	c.logs = append(c.logs, LogMessage{Stream: stream, Time: time.Now(), Line: []byte(line)})
	c.notifyLocked()
	out := c.stdout
	if stream == "stderr" {
		out = c.stderr
	}
	c.mu.Unlock()
	if out != nil {
		_, _ = io.WriteString(out, line)
	}
}

func (c *fakeContainer) run() {
	args := c.cfg.Cmd
	if len(args) == 0 {
		args = []string{"echo", "hi"}
	}
	code := 0
	switch args[0] {
	case "echo":
		c.emit("stdout", strings.Join(args[1:], " ")+"\n")
	case "cat":
		c.mu.Lock()
		in := c.stdin
		c.mu.Unlock()
		if in != nil {
			data, _ := io.ReadAll(in)
			_ = in.Close()
			if len(data) > 0 {
				c.emit("stdout", string(data))
			}
		}
		c.emit("stderr", "done\n")
	case "exit":
		code, _ = strconv.Atoi(args[1])
		c.emit("stdout", "out\n")
		c.emit("stderr", "err\n")
	case "tick":
		n, _ := strconv.Atoi(args[1])
		for i := range n {
			c.emit("stdout", fmt.Sprintf("tick %d\n", i))
			time.Sleep(30 * time.Millisecond)
		}
	case "sleep":
		<-c.stop
		code = 137
	}
	c.mu.Lock()
	c.state = container.StateExited
	c.exits++
	c.exitCode = code
	close(c.exited)
	c.notifyLocked()
	c.mu.Unlock()
}

func (b *fakeBackend) StopContainer(_ context.Context, name, _ string, _ *int) error {
	c, err := b.container(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.state != container.StateRunning {
		c.mu.Unlock()
		return errdefs.ErrNotModified
	}
	close(c.stop)
	exited := c.exited
	c.mu.Unlock()
	<-exited
	return nil
}

func (b *fakeBackend) KillContainer(ctx context.Context, name, _ string) error {
	c, err := b.container(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := c.state == container.StateRunning
	c.mu.Unlock()
	if !running {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot kill container: %s: Container %s is not running", name, c.id))
	}
	return b.StopContainer(ctx, name, "KILL", nil)
}

func (b *fakeBackend) RestartContainer(ctx context.Context, name, signal string, timeout *int) error {
	if err := b.StopContainer(ctx, name, signal, timeout); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	return b.StartContainer(ctx, name)
}

func (b *fakeBackend) RemoveContainer(_ context.Context, name string, force, _ bool) error {
	c, err := b.container(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := c.state == container.StateRunning
	c.mu.Unlock()
	if running && !force {
		return errdefs.ErrConflict.WithMessage("You cannot remove a running container " + c.id + ". Stop the container before attempting removal or force remove")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.containers, c.id)
	delete(b.containers, c.name)
	return nil
}

func (b *fakeBackend) RenameContainer(_ context.Context, name, newName string) error {
	c, err := b.container(name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.containers, c.name)
	c.name = newName
	b.containers[newName] = c
	return nil
}

func (b *fakeBackend) ResizeContainer(_ context.Context, name string, _, _ uint) error {
	_, err := b.container(name)
	return err
}

func (b *fakeBackend) WaitContainer(ctx context.Context, name string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	c, err := b.container(name)
	if err != nil {
		return nil, err
	}
	ch := make(chan container.WaitResponse, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cond == container.WaitConditionNotRunning && c.state != container.StateRunning {
		ch <- container.WaitResponse{StatusCode: int64(c.exitCode)}
		return ch, nil
	}
	target := c.nextExit()
	go func() {
		if c.waitExit(ctx, target) {
			c.mu.Lock()
			ch <- container.WaitResponse{StatusCode: int64(c.exitCode)}
			c.mu.Unlock()
		}
	}()
	return ch, nil
}

func (b *fakeBackend) Containers(_ context.Context, opts ContainerListOptions) ([]container.Summary, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listOpts = append(b.listOpts, opts)
	var out []container.Summary
	for key, c := range b.containers {
		if key != c.id {
			continue
		}
		c.mu.Lock()
		if opts.All || c.state == container.StateRunning {
			if opts.Filters["status"] != nil && !opts.Filters["status"][string(c.state)] {
				c.mu.Unlock()
				continue
			}
			out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Image: c.cfg.Image, State: c.state, Status: string(c.state)})
		}
		c.mu.Unlock()
	}
	return out, nil
}

func (b *fakeBackend) ContainerInspect(_ context.Context, name string, _ bool) (*container.InspectResponse, error) {
	c, err := b.container(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &container.InspectResponse{
		ID: c.id, Name: "/" + c.name, Config: c.cfg,
		HostConfig: &container.HostConfig{LogConfig: container.LogConfig{Type: "json-file"}},
		State:      &container.State{Status: c.state, Running: c.state == container.StateRunning, ExitCode: c.exitCode},
	}, nil
}

func (b *fakeBackend) ContainerLogs(ctx context.Context, name string, opts LogsOptions) (<-chan LogMessage, bool, error) {
	c, err := b.container(name)
	if err != nil {
		return nil, false, err
	}
	ch := make(chan LogMessage)
	c.mu.Lock()
	next := 0
	if opts.Tail >= 0 && opts.Tail < len(c.logs) {
		next = len(c.logs) - opts.Tail
	}
	c.mu.Unlock()
	go func() {
		defer close(ch)
		for {
			c.mu.Lock()
			batch := c.logs[next:]
			next = len(c.logs)
			changed, done := c.changed, c.state != container.StateRunning
			c.mu.Unlock()
			for _, m := range batch {
				if m.Stream == "stdout" && !opts.Stdout || m.Stream == "stderr" && !opts.Stderr {
					continue
				}
				if !opts.Since.IsZero() && m.Time.Before(opts.Since) {
					continue
				}
				select {
				case ch <- m:
				case <-ctx.Done():
					return
				}
			}
			if !opts.Follow || done {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, c.cfg.Tty, nil
}

func (b *fakeBackend) AttachContainer(ctx context.Context, name string, opts AttachOptions) error {
	c, err := b.container(name)
	if err != nil {
		return err
	}
	// Hold the lock across GetStreams: the 101 goes out inside it and the
	// client may send start at once.
	c.mu.Lock()
	stdin, stdout, stderr, err := opts.GetStreams(!c.cfg.Tty)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if opts.Stdin {
		c.stdin = stdin
	}
	if opts.Stdout {
		c.stdout = stdout
	}
	if opts.Stderr {
		c.stderr = stderr
	}
	target := c.nextExit()
	c.mu.Unlock()
	if !c.waitExit(ctx, target) {
		return ctx.Err()
	}
	return nil
}

// nextExit returns the number of exits after which the current or, when none
// is running, the next run has ended. c.mu must be held.
func (c *fakeContainer) nextExit() int {
	if c.state == container.StateRunning {
		return c.starts
	}
	return c.starts + 1
}

// waitExit waits until target runs have ended; false if ctx ended first.
func (c *fakeContainer) waitExit(ctx context.Context, target int) bool {
	for {
		c.mu.Lock()
		done, changed := c.exits >= target, c.changed
		c.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}
