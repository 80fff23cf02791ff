package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/monitor"
	"github.com/gantry/gantry/mount"
	"github.com/gantry/gantry/runtime"
)

// StartContainer implements POST /containers/{name}/start.
func (d *Daemon) StartContainer(ctx context.Context, name string) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	c.Lock()
	if err := c.WaitCopy(ctx); err != nil {
		c.Unlock()
		return err
	}
	// The start outlives the request: a client that goes away mid-start
	// must not leave a half-started container.
	ctx = context.WithoutCancel(ctx)
	switch c.State.Status {
	case gcontainer.Running, gcontainer.Paused, gcontainer.Restarting:
		c.Unlock()
		return errdefs.ErrNotModified.WithMessage("container already started")
	case gcontainer.Removing:
		c.Unlock()
		return errdefs.ErrConflict.WithMessage("container " + c.ID + " is marked for removal and cannot be started")
	}
	// A start asked for begins the restart policy's count and back-off
	// anew, and a stop by hand no longer holds unless-stopped back.
	c.ManuallyStopped = false
	d.resetRestarts(c.ID)
	err = d.startLocked(ctx, c)
	autoRemove := err != nil && c.HostConfig.AutoRemove
	c.Unlock()
	if autoRemove {
		if rerr := d.removeStopped(ctx, c, true); rerr != nil {
			d.log.Warn("auto-remove container", "container", c.ID, "error", rerr)
		}
	}
	return err
}

// startLocked starts c, whose lock the caller holds; a failed start is
// undone and recorded as an exit with the reason.
func (d *Daemon) startLocked(ctx context.Context, c *gcontainer.Container) error {
	err := d.start(ctx, c)
	if err != nil {
		d.releaseNetwork(ctx, c)
		mount.Unmount(rootfsPath(c))
		c.Streams.CloseStdin()
		c.SetExited(runtime.StartExitCode(err), err.Error())
		if serr := d.containers.Save(c); serr != nil {
			d.log.Warn("save container", "container", c.ID, "error", serr)
		}
		return err
	}
	d.containerEvent(c, evtypes.ActionStart, nil)
	return nil
}

// start mounts the rootfs, writes the bundle and runs the process. The
// caller holds c.Lock and undoes the mount on error.
func (d *Daemon) start(ctx context.Context, c *gcontainer.Container) error {
	pidns, err := d.sharedPIDNS(c)
	if err != nil {
		return err
	}
	rootfs := rootfsPath(c)
	mounts, err := d.layers.Prepare(ctx, c.Dir(), c.Chain, d.snapshotOptions(c)...)
	if err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if err := mount.All(mounts, rootfs); err != nil {
		return err
	}
	netns, etc, linkEnv, err := d.setupNetwork(ctx, c)
	if err != nil {
		return err
	}
	hostsPath, hostnamePath, resolvConfPath := filePath(etc, "hosts"), filePath(etc, "hostname"), filePath(etc, "resolv.conf")
	var ipcns, cgroupParent string
	if pod := c.Pod; pod != nil {
		// The pod sandbox (package cri) owns the namespaces and files.
		netns, ipcns, cgroupParent = pod.NetNS, pod.IPCNS, pod.CgroupParent
		if pod.PIDNS != "" {
			pidns = pod.PIDNS
		}
		hostsPath, hostnamePath, resolvConfPath = pod.HostsPath, pod.HostnamePath, pod.ResolvConfPath
	}
	if err := d.shareWithRemapped(c); err != nil {
		return err
	}
	usernsPath, err := d.userNSToJoin(c, etc)
	if err != nil {
		return err
	}
	volumes, err := d.mountVolumes(ctx, c, rootfs)
	if err != nil {
		return err
	}
	initPath, err := d.initBinary(c.HostConfig)
	if err != nil {
		return err
	}
	spec, err := gcontainer.Spec(gcontainer.SpecInput{
		ID:             c.ID,
		Rootfs:         rootfs,
		Config:         c.Config,
		HostConfig:     c.HostConfig,
		LinkEnv:        linkEnv,
		HostsPath:      hostsPath,
		HostnamePath:   hostnamePath,
		ResolvConfPath: resolvConfPath,
		NetNSPath:      netns,
		PIDNSPath:      pidns,
		IPCNSPath:      ipcns,
		CgroupParent:   cgroupParent,
		Volumes:        volumes,
		Confinement:    d.confine,
		IDMap:          d.idmapOf(c.HostConfig),
		UserNSPath:     usernsPath,
		InitPath:       initPath,
		DefaultUlimits: d.cfg.DefaultUlimits,
	})
	if err != nil {
		return err
	}
	bundle := bundlePath(c)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return err
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), specJSON, 0o600); err != nil {
		return err
	}
	d.awaitRuntimeState(c.ID)
	size := c.HostConfig.ConsoleSize
	logs, err := gcontainer.ParseLogConfig(c.HostConfig.LogConfig.Type, c.HostConfig.LogConfig.Config)
	if err != nil {
		return err
	}
	logPath := c.Log.Path()
	if logs.Driver == "none" || c.Pod != nil && c.Pod.LogPath == "" {
		logPath = ""
	}
	cli, err := monitor.Start(ctx, d.monitorBin, monitor.Config{
		ID: c.ID, Bundle: bundle, RuncBinary: d.cfg.Runtime, RuncRoot: d.runcRoot(),
		Dir: d.monitorDir(c.ID), LogPath: logPath, LogMaxSize: logs.MaxSize, LogMaxFiles: logs.MaxFiles, LogCompress: logs.Compress, LogLocal: logs.Driver == "local", LogCRI: c.Pod != nil,
		Terminal: c.Config.Tty, OpenStdin: c.Config.OpenStdin,
		ConsoleHeight: uint16(size[0]), ConsoleWidth: uint16(size[1]),
	})
	if err != nil {
		return err
	}
	// Attached before the start, so that the clients attached to c get the
	// output from its first byte.
	relayed, err := d.relay(ctx, c, cli)
	if err != nil {
		cli.Abort()
		return err
	}
	pid, err := cli.Start(ctx)
	if err != nil {
		<-relayed.done
		cli.Reap()
		os.RemoveAll(cli.Dir())
		if !errdefs.IsUnavailable(err) {
			err = runtime.StartError(err.Error())
		}
		return err
	}
	d.procMu.Lock()
	d.monitors[c.ID] = cli
	d.procMu.Unlock()
	c.SetRunning(pid)
	d.startHealthcheck(c, true)
	if err := d.containers.Save(c); err != nil {
		d.log.Warn("save container", "container", c.ID, "error", err)
	}
	go d.monitor(c, cli, relayed)
	return nil
}

// monitorDir is the directory of a container's monitor: short, as it holds
// a socket.
func (d *Daemon) monitorDir(id string) string { return filepath.Join(d.cfg.ExecRoot, "mon", id) }

func (d *Daemon) runcRoot() string { return filepath.Join(d.cfg.ExecRoot, "runc") }

// relayed is the end of a relay: done is closed once the output has
// ended, exit then has the container's exit when the monitor sent it.
type relayed struct {
	done chan struct{}
	exit *monitor.Exit
}

// relay connects the clients attached to c (c.Streams) with its monitor:
// the output is published to them as it comes, and the input of a
// container with an open stdin is sent on. It ends when the output has
// ended: the container exited (the monitor sends the exit last), or the
// monitor went away. Its connection is the only one gantryd holds for a
// running container.
//
// The monitor lets go of a connection that falls 8 MiB behind (gantryd
// starved while the container wrote fast): then the clients attached,
// whose output has a hole, are dropped with the message, and a new
// connection carries the output on for those who attach next. Before, the
// output of the container reached no client any more until its next run.
func (d *Daemon) relay(ctx context.Context, c *gcontainer.Container, cli *monitor.Client) (*relayed, error) {
	var stdin *os.File
	if c.Config.OpenStdin {
		var err error
		if stdin, err = c.Streams.StdinReader(); err != nil {
			return nil, err
		}
	}
	closeAtEnd := c.Config.StdinOnce && !c.Config.Tty
	a, err := cli.Attach(ctx, stdin != nil, closeAtEnd)
	if err != nil {
		return nil, err
	}
	in := newRelayInput(a)
	r := &relayed{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer in.end()
		for {
			for {
				stream, p, err := a.Next()
				if err != nil {
					break
				}
				c.Streams.Publish(stream, p)
			}
			a.Close()
			if e, ok := a.Exit(); ok {
				r.exit = &e
				return
			}
			// Dropped, or the monitor went away: after the container's
			// exit the monitor refuses a new attachment, so one that is
			// taken means it dropped ours.
			actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			next, err := cli.Attach(actx, stdin != nil, closeAtEnd)
			cancel()
			if err != nil {
				return
			}
			d.log.Warn("gantryd's connection to a container's monitor fell behind the output; the clients attached are let go", "container", c.ID)
			c.Streams.DropAll()
			a = next
			in.set(a)
		}
	}()
	if stdin != nil {
		go in.copy(stdin, closeAtEnd)
	}
	return r, nil
}

// relayInput sends a container's stdin on the relay's connection to its
// monitor, and on the next one when the monitor dropped that.
type relayInput struct {
	mu   sync.Mutex
	a    *monitor.Attach // nil once the relay ended
	next chan struct{}   // closed when a changes
}

func newRelayInput(a *monitor.Attach) *relayInput {
	return &relayInput{a: a, next: make(chan struct{})}
}

func (r *relayInput) current() (*monitor.Attach, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.a, r.next
}

func (r *relayInput) set(a *monitor.Attach) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.a = a
	close(r.next)
	r.next = make(chan struct{})
}

func (r *relayInput) end() { r.set(nil) }

// copy sends stdin on until it ends (with closeAtEnd, the end is sent on:
// StdinOnce) or the relay ended; the input a dropped connection did not
// take goes on the next one.
func (r *relayInput) copy(stdin io.Reader, closeAtEnd bool) {
	buf := make([]byte, 32<<10)
	a, next := r.current()
	for a != nil {
		n, rerr := stdin.Read(buf)
		for n > 0 && a != nil {
			if _, err := a.Write(buf[:n]); err == nil {
				break
			}
			<-next
			a, next = r.current()
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && closeAtEnd && a != nil {
				a.CloseWrite()
			}
			return
		}
	}
}

// monitor waits, through its monitor, for the container to exit, lets the
// output reach the attached clients, releases the runtime state and the
// mount, and records the exit. A container created with AutoRemove is
// then removed.
func (d *Daemon) monitor(c *gcontainer.Container, cli *monitor.Client, relay *relayed) {
	ctx := context.Background()
	<-relay.done
	var exit monitor.Exit
	var err error
	if relay.exit != nil {
		exit = *relay.exit
	} else {
		// The monitor went away, or the relay could not attach again:
		// the exit file says whether it recorded the exit.
		exit, err = cli.Wait(ctx)
	}
	var msg string
	if err != nil {
		if e, ok := monitor.ReadExit(cli.Dir()); ok {
			exit = e
		} else {
			exit, msg = d.monitorLost(ctx, c, err)
		}
	}
	cli.Reap()
	c.Streams.CloseStdin()
	d.procMu.Lock()
	delete(d.monitors, c.ID)
	d.procMu.Unlock()

	c.Lock()
	// The exit is told first (waiters, the die event), as dockerd does,
	// then cleaned up under the lock, which inspect and a new start wait
	// for.
	d.execs.RemoveIdle(c.ID)
	d.stopHealthcheck(c)
	c.SetExitedAt(exit.Code, msg, exit.Time)
	if d.runtime.OOMKilled(c.ID) { // read before the runtime state, with the cgroup, goes
		c.State.OOMKilled = true
		d.containerEvent(c, evtypes.ActionOOM, nil)
	}
	d.containerEvent(c, evtypes.ActionDie, map[string]string{"exitCode": strconv.Itoa(exit.Code)})
	d.deleteRuntimeState(c.ID)
	d.releaseNetwork(ctx, c)
	if err := mount.Unmount(rootfsPath(c)); err != nil {
		d.log.Warn("unmount rootfs", "container", c.ID, "error", err)
	}
	d.unmountVolumeEvents(c)
	if err := d.containers.Save(c); err != nil {
		d.log.Warn("save container", "container", c.ID, "error", err)
	}
	d.restartPerPolicy(c, exit.Time)
	// Once the exit is saved, and under the lock: a new start of c makes
	// the directory again.
	if err := os.RemoveAll(cli.Dir()); err != nil {
		d.log.Warn("remove monitor directory", "container", c.ID, "error", err)
	}
	autoRemove := c.HostConfig.AutoRemove
	c.Unlock()
	d.log.Debug("container exited", "container", c.ID, "exit-code", exit.Code)
	if autoRemove {
		if err := d.removeStopped(ctx, c, true); err != nil && !errdefs.IsConflict(err) {
			d.log.Warn("auto-remove container", "container", c.ID, "error", err)
		}
	}
}

// monitorLost deals with a container whose monitor went away without
// recording an exit (killed): nothing would reap or log the container any
// more, so its processes are killed, and the exit says why.
func (d *Daemon) monitorLost(ctx context.Context, c *gcontainer.Container, cause error) (monitor.Exit, string) {
	pid := c.Snapshot().Pid
	d.log.Warn("the monitor of a running container went away; killing the container", "container", c.ID, "error", cause)
	if err := d.runtime.Kill(ctx, c.ID, unix.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		d.log.Warn("kill container", "container", c.ID, "error", err)
	}
	if pid > 0 { // reparented to gantryd, the subreaper, when it started the monitor
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d.runtime.Wait(wctx, pid)
		cancel()
	}
	return monitor.Exit{Code: 137, Time: time.Now().UTC()}, "the container's monitor exited unexpectedly; the container was killed"
}

// deleteRuntimeState deletes the runtime's state of an exited container in
// the background: it takes a runc invocation (about 10 ms) that nobody
// waiting for the exit needs to wait for. A new start of the same container
// waits for it (awaitRuntimeState).
func (d *Daemon) deleteRuntimeState(id string) {
	done := make(chan struct{})
	d.procMu.Lock()
	d.deleting[id] = done
	d.procMu.Unlock()
	go func() {
		defer close(done)
		if err := d.runtime.DeleteExited(context.Background(), id); err != nil {
			d.log.Warn("delete runtime state", "container", id, "error", err)
		}
		d.procMu.Lock()
		if d.deleting[id] == done {
			delete(d.deleting, id)
		}
		d.procMu.Unlock()
	}()
}

// awaitRuntimeState waits for a pending deleteRuntimeState of id.
func (d *Daemon) awaitRuntimeState(id string) {
	d.procMu.Lock()
	done := d.deleting[id]
	d.procMu.Unlock()
	if done != nil {
		<-done
	}
}

// StopContainer implements POST /containers/{name}/stop.
func (d *Daemon) StopContainer(ctx context.Context, name, signal string, timeout *int) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	return d.stop(ctx, c, signal, timeout)
}

// stop sends the stop signal, waits up to timeout seconds (default 10;
// negative waits forever) and then kills. A container that is not running
// is a not-modified error.
func (d *Daemon) stop(ctx context.Context, c *gcontainer.Container, signal string, timeout *int) error {
	if d.cancelRestart(c) {
		d.containerEvent(c, evtypes.ActionStop, nil)
		return nil
	}
	if !c.Snapshot().IsRunning() {
		return errdefs.ErrNotModified.WithMessage("container " + c.ID + " is not running")
	}
	if signal == "" {
		signal = c.Config.StopSignal
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	grace := 10 * time.Second
	if timeout != nil {
		grace = time.Duration(*timeout) * time.Second
	} else if c.Config.StopTimeout != nil {
		grace = time.Duration(*c.Config.StopTimeout) * time.Second
	}
	exited := c.Wait(ctx, container.WaitConditionNotRunning)
	if err := d.kill(ctx, c, signal); err != nil && !errdefs.IsConflict(err) && !processGone(c.Snapshot().Pid) {
		return err
	}
	var expire <-chan time.Time
	if grace >= 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		expire = t.C
	}
	select {
	case <-exited:
		d.containerEvent(c, evtypes.ActionStop, nil)
		return nil
	case <-expire:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := d.kill(ctx, c, "SIGKILL"); err != nil && !errdefs.IsConflict(err) && !processGone(c.Snapshot().Pid) {
		return err
	}
	select {
	case <-exited:
		d.containerEvent(c, evtypes.ActionStop, nil)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// KillContainer implements POST /containers/{name}/kill.
func (d *Daemon) KillContainer(ctx context.Context, name, signal string) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	return d.kill(ctx, c, signal)
}

// kill signals the container's init; a container that is not running is a
// conflict, with Docker's text.
func (d *Daemon) kill(ctx context.Context, c *gcontainer.Container, signal string) error {
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.Status == gcontainer.Restarting {
		// Nothing to signal: the pending restart is called off.
		d.stoppedByHand(c)
		c.CancelRestart()
		d.saveLocked(c)
		return nil
	}
	if !c.State.IsRunning() {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot kill container: %s: Container %s is not running", c.Name, c.ID))
	}
	d.stoppedByHand(c)
	if err := d.runtime.Kill(ctx, c.ID, sig, false); err != nil {
		// runc's state went with the exec root while the container runs:
		// it is signalled through its cgroup.
		if !errdefs.IsNotFound(err) || !d.signalByCgroup(c, sig) {
			return fmt.Errorf("kill container %s: %w", c.ID, err)
		}
	}
	d.thawForStop(ctx, c, sig)
	d.containerEvent(c, evtypes.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// parseSignal accepts "KILL", "SIGKILL", "kill" and "9".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errdefs.ErrInvalidArgument.WithMessage("Invalid signal: " + s)
}

// RestartContainer implements POST /containers/{name}/restart.
func (d *Daemon) RestartContainer(ctx context.Context, name, signal string, timeout *int) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	if err := d.stop(ctx, c, signal, timeout); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	if err := d.StartContainer(ctx, c.ID); err != nil {
		return err
	}
	d.containerEvent(c, evtypes.ActionRestart, nil)
	return nil
}

// WaitContainer implements POST /containers/{name}/wait.
func (d *Daemon) WaitContainer(ctx context.Context, name string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, err
	}
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid condition: " + string(cond))
	}
	states := c.Wait(ctx, cond)
	out := make(chan container.WaitResponse, 1)
	go func() {
		defer close(out)
		if st, ok := <-states; ok {
			out <- container.WaitResponse{StatusCode: int64(st.ExitCode)}
		}
	}()
	return out, nil
}

// ResizeContainer implements POST /containers/{name}/resize.
func (d *Daemon) ResizeContainer(ctx context.Context, name string, height, width uint) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	d.procMu.Lock()
	cli := d.monitors[c.ID]
	d.procMu.Unlock()
	if cli == nil {
		return errdefs.ErrConflict.WithMessage("Container " + c.ID + " is not running")
	}
	if !c.Config.Tty {
		return nil // no terminal to resize, as dockerd
	}
	return cli.Resize(ctx, uint16(height), uint16(width))
}

func filePath(c *gcontainer.Container, name string) string { return filepath.Join(c.Dir(), name) }

// initBinary is the init to run as c's PID 1 ("" for none): with --init
// (HostConfig.Init, else gantryd's --init), gantryd's --init-path, else
// docker-init or tini-static (Debian's tini package) in $PATH.
func (d *Daemon) initBinary(hc *container.HostConfig) (string, error) {
	if hc.Init != nil && !*hc.Init || hc.Init == nil && !d.cfg.Init {
		return "", nil
	}
	if d.cfg.InitPath != "" {
		return d.cfg.InitPath, nil
	}
	var first error
	for _, name := range []string{"docker-init", "tini-static"} {
		p, err := exec.LookPath(name)
		if err == nil {
			return p, nil
		}
		if first == nil {
			first = err
		}
	}
	return "", errdefs.ErrUnavailable.WithMessage(first.Error() + "\nhint: install tini (Debian's package has tini-static) or give gantryd --init-path")
}

// processGone reports whether the process pid has exited (gone, or a
// zombie its monitor has yet to reap): a kill that failed because the
// init exited as it was signalled (runc: "process already finished") is
// then no error, and the exit is on its way.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	// The state follows the command, which is in parentheses.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] == 'Z' || b[i+2] == 'X'
	}
	return false
}
