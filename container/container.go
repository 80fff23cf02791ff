package container

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/opencontainers/go-digest"
)

// Status is the lifecycle state of a container, with Docker's names.
type Status string

// The states a container moves through: created -> running <-> paused,
// running -> exited -> running (restart) ..., and removing at the end.
const (
	Created Status = "created"
	Running Status = "running"
	Paused  Status = "paused"
	Exited  Status = "exited"
	// Restarting is an exited container waiting for its restart policy to
	// start it again (inspect shows it Running, as dockerd).
	Restarting Status = "restarting"
	Removing   Status = "removing"
	Dead       Status = "dead"
)

// State is the persisted runtime state of a container.
type State struct {
	Status     Status
	Pid        int       `json:",omitempty"`
	ExitCode   int       `json:",omitempty"`
	Error      string    `json:",omitempty"`
	StartedAt  time.Time `json:",omitzero"`
	FinishedAt time.Time `json:",omitzero"`
	// Exits counts the exits since creation; waiters for "next-exit" wait
	// for it to grow.
	Exits int `json:",omitempty"`
	// Health is the healthcheck's state (nil without one): set at each
	// start, and by each probe while the container runs.
	Health *container.Health `json:",omitempty"`
	// OOMKilled says that the OOM killer killed a process of the last run.
	OOMKilled bool `json:",omitempty"`
}

// Container is one container record. The exported fields are persisted in
// <root>/<id>/config.json; change them only through Store methods or under
// Lock, and persist with Store.Save.
type Container struct {
	ID         string
	Name       string // without the leading slash
	Created    time.Time
	Image      string        // the image as the user named it
	ImageID    digest.Digest // the image it was created from
	Chain      digest.Digest // layer chain ID its read-write snapshot sits on
	Config     *container.Config
	HostConfig *container.HostConfig
	State      State
	Volumes    []VolumeMount `json:",omitempty"` // the volumes it mounts, fixed at create
	// Networks are the networks the container is connected to, by name:
	// the endpoint asked for (Aliases, IPAMConfig) and, while it runs, the
	// endpoint it got (NetworkID, EndpointID, IPAddress, Gateway ...).
	Networks map[string]*network.EndpointSettings `json:",omitempty"`
	// MACs are the MAC addresses asked for (--mac-address), by network
	// name; the other endpoints get one derived from their address.
	MACs map[string]string `json:",omitempty"`
	// Ports are the published ports as bound while it runs.
	Ports network.PortMap `json:",omitempty"`
	// RestartCount counts the starts its restart policy made since the
	// last start asked for.
	RestartCount int `json:",omitempty"`
	// ManuallyStopped is set by docker stop and kill, and cleared by a
	// start asked for: unless-stopped then does not start it again.
	ManuallyStopped bool `json:",omitempty"`
	// Pod is set on a container made through the CRI: its pod sandbox.
	Pod *Pod `json:",omitempty"`

	mu      sync.Mutex
	view    atomic.Pointer[View] // the record as of its last change (View)
	copying bool                 // a copy writes the filesystem (SetCopying)
	changed chan struct{}        // closed and replaced on every state change
	removed chan struct{}        // closed once the container is removed
	Streams *Streams             `json:"-"`
	Log     *Log                 `json:"-"`
	dir     string
}

// init sets up the runtime-only parts of a record loaded or created.
func (c *Container) init(dir string) {
	c.dir = dir
	c.changed = make(chan struct{})
	c.removed = make(chan struct{})
	c.Streams = newStreams(c.Config.OpenStdin, c.Config.StdinOnce && !c.Config.Tty)
	c.Log = newLog(logPath(dir, c.ID))
	if c.HostConfig != nil && c.HostConfig.LogConfig.Type == "local" {
		c.Log = OpenLog(filepath.Join(dir, "local-logs", localLogName), true)
	}
	if c.Pod != nil && c.Pod.LogPath != "" {
		c.Log = OpenCRILog(c.Pod.LogPath)
	}
}

// Dir is the container's directory: its record, logs, bundle and snapshot.
func (c *Container) Dir() string { return c.dir }

// Lock serialises lifecycle operations (start, stop, remove ...) on c.
func (c *Container) Lock() { c.mu.Lock() }

// Unlock releases Lock.
func (c *Container) Unlock() { c.mu.Unlock() }

// Snapshot returns the state as of its last change (the View's), without
// waiting for Lock.
func (c *Container) Snapshot() State { return c.View().State }

// SetRunning records a started process. The caller holds Lock.
func (c *Container) SetRunning(pid int) {
	c.State.Status = Running
	c.State.OOMKilled = false
	c.State.Pid = pid
	c.State.ExitCode = 0
	c.State.Error = ""
	c.State.StartedAt = time.Now().UTC()
	c.State.FinishedAt = time.Time{}
	c.notify()
}

// SetExited records that the process ended with code, or that it failed to
// start (then errMsg says why). The caller holds Lock.
func (c *Container) SetExited(code int, errMsg string) {
	if c.State.Status == Running || c.State.Status == Paused || c.State.Status == Restarting {
		c.State.Status = Exited
		c.State.FinishedAt = time.Now().UTC()
	}
	c.State.Pid = 0
	c.State.ExitCode = code
	c.State.Error = errMsg
	c.State.Exits++
	c.notify()
}

// SetExitedAt is SetExited for an exit that happened at t (while gantryd
// was down, as the container's monitor recorded it).
func (c *Container) SetExitedAt(code int, errMsg string, t time.Time) {
	c.SetExited(code, errMsg)
	if !t.IsZero() && c.State.Status == Exited {
		c.State.FinishedAt = t.UTC()
		c.publish(nil)
	}
}

// SetPaused records a pause or resume. The caller holds Lock.
func (c *Container) SetPaused(paused bool) {
	if paused {
		c.State.Status = Paused
	} else {
		c.State.Status = Running
	}
	c.notify()
}

// SetRemoving marks the container as being removed. The caller holds Lock.
func (c *Container) SetRemoving() {
	c.State.Status = Removing
	c.notify()
}

// SetStatus puts back status after an operation that failed (a removal).
// The caller holds Lock.
func (c *Container) SetStatus(status Status) {
	c.State.Status = status
	c.notify()
}

// SetCopying marks c's filesystem as written, or no longer, by an
// operation that does not hold Lock while it writes (docker cp into the
// container). Meanwhile a start or a removal waits for it (WaitCopy), and
// so does another such copy. The caller holds Lock.
func (c *Container) SetCopying(on bool) {
	c.copying = on
	c.notify()
}

// WaitCopy waits until no copy writes c's filesystem (SetCopying).
// The caller holds Lock, which WaitCopy releases while it waits and holds
// again when it returns, then with ctx's error if ctx ended first.
func (c *Container) WaitCopy(ctx context.Context) error {
	for c.copying {
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			c.mu.Lock()
			return ctx.Err()
		}
		c.mu.Lock()
	}
	return nil
}

func (c *Container) notify() {
	c.publish(nil)
	close(c.changed)
	c.changed = make(chan struct{})
}

// IsRunning reports whether the process is alive (running or paused).
func (s State) IsRunning() bool { return s.Status == Running || s.Status == Paused }

// Wait registers a wait for condition at once and returns a channel that
// yields the exit code when it is met:
//   - not-running: immediately if the container is not running, else at its exit;
//   - next-exit: at the exit after this call (a created container's first run);
//   - removed: once the container is removed.
//
// The channel is closed without a value if ctx ends first.
func (c *Container) Wait(ctx context.Context, cond container.WaitCondition) <-chan State {
	c.mu.Lock()
	start := c.State
	c.mu.Unlock()
	out := make(chan State, 1)
	go func() {
		defer close(out)
		for {
			c.mu.Lock()
			st, changed, removed := c.State, c.changed, c.removed
			c.mu.Unlock()
			select {
			case <-removed: // every condition is met, or can never be, once removed
				out <- st
				return
			default:
			}
			switch cond {
			case container.WaitConditionRemoved:
			case container.WaitConditionNextExit:
				if st.Exits > start.Exits {
					out <- st
					return
				}
			default:
				if !st.IsRunning() && st.Status != Removing {
					out <- st
					return
				}
			}
			select {
			case <-changed:
			case <-removed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Removed is closed once the container has been removed.
func (c *Container) Removed() <-chan struct{} { return c.removed }

// Args is the process's command line: Entrypoint then Cmd.
func (c *Container) Args() []string {
	return append(append([]string(nil), c.Config.Entrypoint...), c.Config.Cmd...)
}

// Command is the container's command line as `docker ps` shows it:
// arguments after the first are quoted when they hold a space, as dockerd does.
func (c *Container) Command() string {
	args := c.Args()
	if len(args) == 0 {
		return ""
	}
	out := []string{args[0]}
	for _, a := range args[1:] {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func noSuchContainer(name string) error {
	return errdefs.ErrNotFound.WithMessage("No such container: " + name)
}
