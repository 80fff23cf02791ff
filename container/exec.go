package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Exec is one process started in a running container by `docker exec`. It
// moves from created to running (SetRunning) to exited (SetExited), once;
// a start that fails goes from created to exited. Execs live in memory only:
// they end with their container's run.
type Exec struct {
	ID          string
	ContainerID string
	Config      container.ExecCreateRequest

	mu       sync.Mutex
	begun    bool
	running  bool
	pid      int
	exitCode *int
	console  *os.File
	started  chan struct{} // closed once the process runs or could not start
	exited   chan struct{} // closed once the exit code is recorded
}

// NewExec returns a created exec of container containerID with a new random ID.
func NewExec(containerID string, cfg container.ExecCreateRequest) *Exec {
	b := make([]byte, 32)
	rand.Read(b)
	return &Exec{
		ID:          hex.EncodeToString(b),
		ContainerID: containerID,
		Config:      cfg,
		started:     make(chan struct{}),
		exited:      make(chan struct{}),
	}
}

// Begin claims the start of a created exec. Starting an exec twice is a
// conflict error with Docker's text.
func (e *Exec) Begin() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.exitCode != nil:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Error: Exec command %s has already run", e.ID))
	case e.begun:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Error: Exec command %s is already running", e.ID))
	}
	e.begun = true
	return nil
}

// SetRunning records the started process; console is its pty master, or nil.
func (e *Exec) SetRunning(pid int, console *os.File) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running, e.pid, e.console = true, pid, console
	close(e.started)
}

// SetExited records the exit code of the process, or of a start that failed.
func (e *Exec) SetExited(code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exitCode != nil {
		return
	}
	if !e.running {
		close(e.started) // the start failed
	}
	e.running, e.console = false, nil
	e.exitCode = &code
	close(e.exited)
}

// Started is closed once the process runs, or once its start failed.
func (e *Exec) Started() <-chan struct{} { return e.started }

// Exited is closed once the exit code is recorded.
func (e *Exec) Exited() <-chan struct{} { return e.exited }

// ExitCode is the exit code, once the exec has exited.
func (e *Exec) ExitCode() (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exitCode == nil {
		return 0, false
	}
	return *e.exitCode, true
}

// Console is the pty master of a running exec with a TTY, else nil.
func (e *Exec) Console() *os.File {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.console
}

// Inspect is the exec as GET /exec/{id}/json shows it: ExitCode is null
// until the process has exited.
func (e *Exec) Inspect() container.ExecInspectResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.Config
	privileged := cfg.Privileged
	pc := &container.ExecProcessConfig{Tty: cfg.Tty, Privileged: &privileged, User: cfg.User, Arguments: []string{}}
	if len(cfg.Cmd) > 0 {
		pc.Entrypoint, pc.Arguments = cfg.Cmd[0], slices.Clone(cfg.Cmd[1:])
	}
	var code *int
	if e.exitCode != nil {
		c := *e.exitCode
		code = &c
	}
	return container.ExecInspectResponse{
		ID:            e.ID,
		Running:       e.running,
		ExitCode:      code,
		ProcessConfig: pc,
		OpenStdin:     cfg.AttachStdin,
		OpenStderr:    cfg.AttachStderr,
		OpenStdout:    cfg.AttachStdout,
		ContainerID:   e.ContainerID,
		DetachKeys:    []byte(cfg.DetachKeys),
		Pid:           e.pid,
	}
}

// ExecProcess builds the OCI process of exec cfg in a running container, as
// dockerd does: the process of the container's runtime spec (its
// capabilities, rlimits and the like) with the exec's command, TTY and
// console size; the user (default: the container's) resolved against
// /etc/passwd and /etc/group under root, the directory the container's
// processes see as "/" (/proc/<pid>/root of its init); the working
// directory (default: the container's); and the container's environment
// followed by the exec's Env, which replaces variables of the same name. A user that
// does not resolve is an invalid-argument error with Docker's text; a
// relative working directory is left for the runtime to refuse, with its
// text, as Docker does. A privileged exec gets every capability
// (privilegedCaps).
func ExecProcess(root string, spec *specs.Spec, ctr *container.Config, hc *container.HostConfig, cfg container.ExecCreateRequest) (*specs.Process, error) {
	if spec == nil || spec.Process == nil || spec.Root == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("the container's runtime spec has no process")
	}
	if len(cfg.Cmd) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("No exec command specified")
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	name := cfg.User
	if name == "" {
		name = ctr.User
	}
	usr, home, err := specUserIn(root, name, hc.GroupAdd)
	if err != nil {
		return nil, err
	}
	p := *spec.Process
	p.Args = slices.Clone(cfg.Cmd)
	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	if cfg.Tty && cfg.ConsoleSize != nil && cfg.ConsoleSize[0] > 0 && cfg.ConsoleSize[1] > 0 {
		p.ConsoleSize = &specs.Box{Height: cfg.ConsoleSize[0], Width: cfg.ConsoleSize[1]}
	}
	p.User = usr
	hostname := spec.Hostname
	if hostname == "" {
		hostname = ctr.Hostname
	}
	p.Env = specEnv(append(slices.Clone(ctr.Env), cfg.Env...), nil, hostname, home, cfg.Tty)
	switch {
	case cfg.WorkingDir != "":
		p.Cwd = cfg.WorkingDir
	case ctr.WorkingDir != "":
		p.Cwd = ctr.WorkingDir
	}
	if c := spec.Process.Capabilities; c != nil {
		caps := &specs.LinuxCapabilities{Bounding: slices.Clone(c.Bounding)}
		if usr.UID == 0 {
			caps.Effective, caps.Permitted = slices.Clone(c.Bounding), slices.Clone(c.Bounding)
		}
		p.Capabilities = caps
	}
	if cfg.Privileged {
		// As dockerd: every capability, in every set (a non-root user
		// loses them at execve); the container's seccomp filter still
		// applies.
		all := privilegedCaps()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: slices.Clone(all), Permitted: slices.Clone(all), Inheritable: slices.Clone(all)}
	}
	return &p, nil
}

// Execs indexes execs by ID. It is safe for concurrent use.
type Execs struct {
	mu sync.Mutex
	m  map[string]*Exec
}

// NewExecs returns an empty index.
func NewExecs() *Execs { return &Execs{m: map[string]*Exec{}} }

// Add indexes e.
func (s *Execs) Add(e *Exec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[e.ID] = e
}

// Get returns exec id; an unknown id is a not-found error with Docker's text.
func (s *Execs) Get(id string) (*Exec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; ok {
		return e, nil
	}
	return nil, errdefs.ErrNotFound.WithMessage("No such exec instance: " + id)
}

// Remove drops exec id; an unknown id is not an error.
func (s *Execs) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// RemoveContainer drops every exec of container id.
func (s *Execs) RemoveContainer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.m {
		if e.ContainerID == id {
			delete(s.m, k)
		}
	}
}

// RemoveIdle drops the execs of container id that do not run: created and
// never started, or exited. The container calls it when it stops, as
// dockerd drops a stopped container's execs; those still starting or
// running go once their exit is recorded.
func (s *Execs) RemoveIdle(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.m {
		if e.ContainerID == id && e.idle() {
			delete(s.m, k)
		}
	}
}

// idle reports whether e is created and never started, or exited.
func (e *Exec) idle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.begun || e.exitCode != nil
}

// Active returns the IDs of container id's execs that have not exited
// (created or running), sorted, as container inspect lists them in ExecIDs;
// nil when there are none.
func (s *Execs) Active(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for k, e := range s.m {
		if e.ContainerID != id {
			continue
		}
		select {
		case <-e.exited:
		default:
			ids = append(ids, k)
		}
	}
	slices.Sort(ids)
	return ids
}
