// Package buildkit is gantryd's side of BuildKit: POST /grpc and /session
// go to gantry-buildkitd, a helper process started on the first of them,
// which embeds BuildKit (package buildkit/engine) and asks gantryd, over a
// callback socket, for its images, for the network namespaces of RUN steps
// and to record the images it builds (Host). gantryd itself links none of
// BuildKit: its idle memory stays what it was, and a build's memory is
// the helper's.
package buildkit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/gantry/gantry/mount"
)

// Config is what the helper is started with.
type Config struct {
	// Binary is gantry-buildkitd.
	Binary string
	// Root is BuildKit's state (<data-root>/buildkit).
	Root string
	// RunDir holds the two sockets and the helper's log
	// (<exec-root>/buildkit).
	RunDir string
	// Host answers the helper's callbacks.
	Host Host
	Log  *slog.Logger
	// IdleTimeout stops the helper once no request has used it for that
	// long (its memory goes back; its cache stays on disk); 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// DNS is the resolv.conf of RUN steps: gantryd's --dns, --dns-search
	// and --dns-opt (none: the host's, as BuildKit makes it).
	DNS DNSConfig
}

// DNSConfig is gantryd's DNS settings of build steps.
type DNSConfig struct {
	Servers, Search, Options []string
}

// args are gantry-buildkitd's flags that give it c.
func (c DNSConfig) args() []string {
	var args []string
	for flag, values := range map[string][]string{"--dns": c.Servers, "--dns-search": c.Search, "--dns-opt": c.Options} {
		for _, v := range values {
			args = append(args, flag, v)
		}
	}
	return args
}

// DefaultIdleTimeout is how long an unused helper runs on.
const DefaultIdleTimeout = 10 * time.Minute

// Helper runs gantry-buildkitd on demand and forwards requests to it.
type Helper struct {
	cfg Config

	mu   sync.Mutex
	proc *proc
}

// proc is a running helper.
type proc struct {
	cmd      *exec.Cmd
	done     chan struct{}
	proxy    *httputil.ReverseProxy
	client   *http.Client // to the helper's own requests (prune)
	callback *http.Server

	// Under Helper.mu: requests using it, the timer that stops it once
	// there are none, and whether it is being stopped.
	active   int
	idle     *time.Timer
	stopping bool

	mu        sync.Mutex
	sandboxes map[string]bool // made for its steps, removed when it exits
}

// New returns a helper that starts on the first request.
func New(cfg Config) *Helper {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	return &Helper{cfg: cfg}
}

// Running reports whether the helper process runs (and is not being
// stopped).
func (h *Helper) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proc != nil && !h.proc.stopping
}

// ServeGRPC forwards POST /grpc (upgraded to h2c) to the helper.
func (h *Helper) ServeGRPC(w http.ResponseWriter, r *http.Request) error {
	return h.forward(w, r)
}

// ServeSession forwards POST /session (upgraded to h2c) to the helper.
func (h *Helper) ServeSession(w http.ResponseWriter, r *http.Request) error {
	return h.forward(w, r)
}

func (h *Helper) forward(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Upgrade") != "h2c" {
		return errdefs.ErrInvalidArgument.WithMessage("this endpoint needs an upgrade to h2c")
	}
	p, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release(p)
	p.proxy.ServeHTTP(w, r) // until the upgraded connection ends
	return nil
}

// acquire returns the running helper, started if need be, counted as
// used until release. A helper being stopped is waited for first: two
// helpers never share the root.
func (h *Helper) acquire() (*proc, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.proc != nil && h.proc.stopping {
		p := h.proc
		h.mu.Unlock()
		<-p.done
		h.mu.Lock()
	}
	if h.proc == nil {
		p, err := h.start()
		if err != nil {
			h.cfg.Log.Error("buildkit: start gantry-buildkitd", "error", err)
			return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("start buildkit: %v", err))
		}
		h.proc = p
		go h.wait(p)
	}
	p := h.proc
	p.active++
	if p.idle != nil {
		p.idle.Stop()
		p.idle = nil
	}
	return p, nil
}

// release ends a use of p; the last one arms the idle timer.
func (h *Helper) release(p *proc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p.active--
	if p.active == 0 && h.proc == p && !p.stopping {
		p.idle = time.AfterFunc(h.cfg.IdleTimeout, func() { h.stopIdle(p) })
	}
}

// stopIdle stops p if nothing used it since its timer was armed.
func (h *Helper) stopIdle(p *proc) {
	h.mu.Lock()
	if h.proc != p || p.active > 0 || p.stopping {
		h.mu.Unlock()
		return
	}
	p.stopping = true
	h.mu.Unlock()
	h.cfg.Log.Info("buildkit: stopping idle gantry-buildkitd", "pid", p.cmd.Process.Pid)
	h.stop(p)
}

func (h *Helper) start() (*proc, error) {
	if err := os.MkdirAll(h.cfg.RunDir, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(h.cfg.RunDir, "buildkitd.sock")
	cbSock := filepath.Join(h.cfg.RunDir, "gantryd.sock")
	for _, s := range []string{sock, cbSock} {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	h.killSteps() // of a helper that died with a gantryd before this one
	p := &proc{done: make(chan struct{}), sandboxes: map[string]bool{}}
	l, err := net.Listen("unix", cbSock)
	if err != nil {
		return nil, err
	}
	p.callback = &http.Server{
		Handler:           &hostHandler{host: h.cfg.Host, content: ContentDir(h.cfg.Root), snapshots: SnapshotsDir(h.cfg.Root), track: p.track},
		ReadHeaderTimeout: 30 * time.Second,
	}
	go p.callback.Serve(l)

	logf, err := os.OpenFile(filepath.Join(h.cfg.RunDir, "buildkitd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.callback.Close()
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(h.cfg.Binary, append([]string{"--root", h.cfg.Root, "--listen", sock, "--gantryd", cbSock}, h.cfg.DNS.args()...)...)
	cmd.Stderr = logf
	// The helper dies with gantryd: its builds cannot be recorded without
	// it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.callback.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		p.callback.Close()
		return nil, err
	}
	p.cmd = cmd
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("said %q", strings.TrimSpace(line))
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(time.Minute):
		err = errors.New("not ready within a minute")
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		p.callback.Close()
		return nil, fmt.Errorf("gantry-buildkitd: %v (see %s)", err, logf.Name())
	}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
	p.client = &http.Client{Transport: transport}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "buildkitd"
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.cfg.Log.Warn("buildkit: forward", "path", r.URL.Path, "error", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	h.cfg.Log.Info("buildkit: gantry-buildkitd started", "pid", cmd.Process.Pid)
	return p, nil
}

// wait reaps the helper; the network namespaces its steps left are
// removed, and the next request starts a new one.
func (h *Helper) wait(p *proc) {
	err := p.cmd.Wait()
	h.mu.Lock()
	if h.proc == p {
		h.proc = nil
	}
	h.mu.Unlock()
	p.callback.Close()
	h.killSteps()
	p.mu.Lock()
	for id := range p.sandboxes {
		if err := h.cfg.Host.DeleteSandbox(context.Background(), id); err != nil {
			h.cfg.Log.Warn("buildkit: remove step sandbox", "id", id, "error", err)
		}
	}
	p.sandboxes = nil
	p.mu.Unlock()
	h.cfg.Log.Info("buildkit: gantry-buildkitd exited", "status", err)
	close(p.done)
}

// track records a sandbox made (add) or removed for the helper's steps;
// it is false once the helper is gone.
// Recover undoes what the helper of a gantryd that died left (its steps,
// its mounts): gantryd calls it at start.
func (h *Helper) Recover() { h.killSteps() }

// killSteps kills and deletes the RUN steps a dead helper left running
// and undoes its mounts: BuildKit's executor runs steps with runc's
// default state root, runc dies with the helper, the step's processes do
// not. They are the containers whose bundle is under the helper's
// executor directory.
func (h *Helper) killSteps() {
	out, err := exec.Command("runc", "list", "--format", "json").Output()
	if err != nil {
		return
	}
	var list []struct {
		ID     string `json:"id"`
		Bundle string `json:"bundle"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return
	}
	dir := filepath.Join(h.cfg.Root, "runc-overlayfs", "executor") + string(filepath.Separator)
	for _, c := range list {
		if !strings.HasPrefix(c.Bundle, dir) {
			continue
		}
		h.cfg.Log.Warn("buildkit: killing a step gantry-buildkitd left", "id", c.ID)
		_ = exec.Command("runc", "kill", c.ID, "KILL").Run()
		if out, err := exec.Command("runc", "delete", "--force", c.ID).CombinedOutput(); err != nil {
			h.cfg.Log.Warn("buildkit: delete step", "id", c.ID, "error", strings.TrimSpace(string(out)))
		}
	}
	// The steps' roots, which the executor mounted for runc, and the
	// helper's other mounts (cache mounts, file operations): nothing else
	// mounts under its root.
	points, err := mount.Under(h.cfg.Root)
	if err != nil {
		h.cfg.Log.Warn("buildkit: read the mount table", "error", err)
		return
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := mount.Unmount(points[i]); err != nil {
			h.cfg.Log.Warn("buildkit: unmount what gantry-buildkitd left", "error", err)
		}
	}
}

func (p *proc) track(id string, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sandboxes == nil {
		return false
	}
	if add {
		p.sandboxes[id] = true
	} else {
		delete(p.sandboxes, id)
	}
	return true
}

// Prune removes BuildKit's build cache that no build uses (all: every
// record no build uses, as `docker buildx prune --all`) and returns the
// bytes reclaimed. It starts the helper only when BuildKit has state to
// prune.
func (h *Helper) Prune(ctx context.Context, all bool) (int64, error) {
	if !h.Running() {
		if _, err := os.Stat(h.cfg.Root); errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
	}
	p, err := h.acquire()
	if err != nil {
		return 0, err
	}
	defer h.release(p)
	q := ""
	if all {
		q = "?all=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://buildkitd/prune"+q, nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("prune buildkit cache: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("prune buildkit cache: %s", strings.TrimSpace(string(msg)))
	}
	var pr PruneResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		return 0, fmt.Errorf("prune buildkit cache: %w", err)
	}
	return pr.Reclaimed, nil
}

// Close stops the helper (SIGTERM, SIGKILL after 10 s), cutting the
// builds it runs.
func (h *Helper) Close() error {
	h.mu.Lock()
	p := h.proc
	if p != nil {
		p.stopping = true
		if p.idle != nil {
			p.idle.Stop()
		}
	}
	h.mu.Unlock()
	if p != nil {
		h.stop(p)
	}
	return nil
}

// stop ends p: SIGTERM, SIGKILL after 10 s; wait reaps it.
func (h *Helper) stop(p *proc) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}
