package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/monitor"
)

// Labels of the containers made through the CRI: the pod's ID (as
// cri-dockerd names it), and gantry's record of what the CRI asked for,
// so that docker ps shows the io.kubernetes.* labels and the CRI's
// answers show only its own labels.
const (
	labelSandboxID   = "io.kubernetes.sandbox.id"
	labelMetadata    = "io.gantry.cri.metadata"    // ContainerMetadata, JSON
	labelLabels      = "io.gantry.cri.labels"      // the CRI's labels, JSON
	labelAnnotations = "io.gantry.cri.annotations" // the CRI's annotations, JSON
	labelLogPath     = "io.gantry.cri.log-path"
	labelImage       = "io.gantry.cri.image" // the image as the CRI named it
)

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// checkPodConfig refuses what a pod cannot be given here.
func checkPodConfig(cfg *runtimeapi.PodSandboxConfig) error {
	md := cfg.GetMetadata()
	switch {
	case md == nil:
		return invalid("sandbox config must include metadata")
	case md.GetName() == "":
		return invalid("sandbox config must include metadata name")
	case md.GetNamespace() == "":
		return invalid("sandbox config must include metadata namespace")
	case md.GetUid() == "":
		return invalid("sandbox config must include metadata uid")
	case cfg.GetWindows() != nil:
		return invalid("windows sandbox config on linux")
	}
	sc := cfg.GetLinux().GetSecurityContext()
	ns := sc.GetNamespaceOptions()
	switch ns.GetNetwork() {
	case runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_NODE:
	default:
		return invalid(fmt.Sprintf("network namespace mode %v of a pod", ns.GetNetwork()))
	}
	switch ns.GetPid() {
	case runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_CONTAINER:
	default:
		return invalid(fmt.Sprintf("pid namespace mode %v of a pod", ns.GetPid()))
	}
	switch ns.GetIpc() {
	case runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_NODE:
	default:
		return invalid(fmt.Sprintf("ipc namespace mode %v of a pod", ns.GetIpc()))
	}
	if u := ns.GetUsernsOptions(); u != nil && u.GetMode() != runtimeapi.NamespaceMode_NODE {
		return unimplemented("a pod's user namespace (hostUsers: false)")
	}
	if o := sc.GetSelinuxOptions(); o != nil && (o.User != "" || o.Role != "" || o.Type != "" || o.Level != "") {
		return unimplemented("SELinux options")
	}
	for field, r := range map[string]*runtimeapi.LinuxContainerResources{"overhead": cfg.GetLinux().GetOverhead(), "resources": cfg.GetLinux().GetResources()} {
		if _, err := specResources(r, field); err != nil {
			return err
		}
	}
	return nil
}

// RunPodSandbox creates and starts a pod sandbox: its directory with
// hostname, hosts and resolv.conf, a pause process holding its PID and IPC
// namespaces, and a network namespace wired by CNI. A failure undoes every
// step, so that nothing of the pod is left.
func (s *Service) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (_ *runtimeapi.RunPodSandboxResponse, retErr error) {
	cfg := req.GetConfig()
	if err := checkPodConfig(cfg); err != nil {
		return nil, err
	}
	if h := req.GetRuntimeHandler(); h != "" && h != "runc" {
		return nil, notFound(fmt.Sprintf("no runtime for %q is configured", h))
	}
	p := &pod{ID: newID(), CreatedAt: time.Now().UnixNano(), config: cfg}
	key := podKey(cfg.GetMetadata())
	if err := s.reserve(key, p.ID); err != nil {
		return nil, err
	}
	defer s.release(key)
	p.Dir = filepath.Join(s.cfg.Root, "pods", p.ID)
	var undo []func()
	defer func() {
		if retErr != nil {
			for _, f := range slices.Backward(undo) {
				f()
			}
		}
	}()
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, err
	}
	undo = append(undo, func() { os.RemoveAll(p.Dir) })
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	hostNet := ns.GetNetwork() == runtimeapi.NamespaceMode_NODE
	if err := writePodFiles(p.Dir, cfg, hostNet); err != nil {
		return nil, err
	}
	var flags uintptr
	if ns.GetPid() != runtimeapi.NamespaceMode_NODE {
		flags |= unix.CLONE_NEWPID
	}
	if ns.GetIpc() != runtimeapi.NamespaceMode_NODE {
		flags |= unix.CLONE_NEWIPC
	}
	// The pause process (in its cgroup) and the network are made side by
	// side: neither needs the other, and the CNI plugins take longest.
	type paused struct {
		pid  int
		made bool // the pod's cgroup
		err  error
	}
	p.Cgroup = podCgroup(p.ID, cfg)
	pauseDone := make(chan paused, 1)
	go func() {
		pid, err := monitor.StartPause(s.cfg.Monitor, flags)
		if err != nil {
			pauseDone <- paused{err: err}
			return
		}
		made, err := makePodCgroups(p.Cgroup, p.pauseCgroup(), pid, cfg)
		pauseDone <- paused{pid, made, err}
	}()
	netUndo, netErr := s.podNetwork(ctx, p, hostNet)
	r := <-pauseDone
	if r.pid > 0 {
		undo = append(undo, func() {
			stopPause(r.pid)
			removeCgroup(p.pauseCgroup())
			if r.made {
				removeCgroup(p.Cgroup)
			}
		})
	}
	undo = append(undo, netUndo...)
	if r.err != nil {
		return nil, r.err
	}
	if netErr != nil {
		return nil, netErr
	}
	p.PausePid, p.CgroupMade = r.pid, r.made
	p.Ready = true
	if err := s.pods.save(p); err != nil {
		return nil, err
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: p.ID}, nil
}

// podNetwork pins the pod's network namespace and has CNI wire it
// (nothing with the host's network), returning the undo of what it did,
// also when it fails.
func (s *Service) podNetwork(ctx context.Context, p *pod, hostNet bool) ([]func(), error) {
	if hostNet {
		return nil, nil
	}
	var undo []func()
	dir := filepath.Join(s.cfg.RunDir, "netns")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	netns := filepath.Join(dir, p.ID)
	if err := pinNetNS(netns); err != nil {
		return nil, err
	}
	undo = append(undo, func() { unpinNetNS(netns) })
	ips, err := s.cni.add(ctx, p.ID, netns, p.config)
	if err != nil {
		return undo, err
	}
	undo = append(undo, func() { s.cni.del(context.WithoutCancel(ctx), p.ID, netns, p.config) })
	p.NetNS, p.IPs, p.Networked = netns, ips, true
	return undo, nil
}

// pauseCgroup is the cgroup of the pod's pause process.
func (p *pod) pauseCgroup() string { return path.Join(p.Cgroup, p.ID) }

// containerCgroup is the parent of the pod's containers' cgroups.
func (p *pod) containerCgroup() string {
	if p.Cgroup != "" {
		return p.Cgroup
	}
	return p.config.GetLinux().GetCgroupParent() // a record of an older gantryd
}

// reserve takes a pod name attempt for id while its pod is being made: a
// second RunPodSandbox of it is AlreadyExists, as a pod recorded with it.
func (s *Service) reserve(key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	other := s.reserved[key]
	if p := s.pods.byKey(key); p != nil {
		other = p.ID
	}
	if other != "" {
		return alreadyExists(fmt.Sprintf("failed to reserve sandbox name %q: name %q is reserved for %q", key, key, other))
	}
	s.reserved[key] = id
	return nil
}

// release ends a reservation (the pod is recorded, or was not made).
func (s *Service) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reserved, key)
}

// writePodFiles writes the files the pod's containers mount: hostname,
// hosts and resolv.conf (the pod's DNS config, else the host's).
func writePodFiles(dir string, cfg *runtimeapi.PodSandboxConfig, hostNet bool) error {
	hostname := cfg.GetHostname()
	if hostname == "" {
		var err error
		if hostname, err = os.Hostname(); err != nil {
			return err
		}
	}
	hosts := []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if hostNet {
		if h, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = h
		}
	}
	if dns := cfg.GetDnsConfig(); dns != nil {
		var b strings.Builder
		if len(dns.GetSearches()) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(dns.GetSearches(), " "))
		}
		for _, s := range dns.GetServers() {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
		if len(dns.GetOptions()) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(dns.GetOptions(), " "))
		}
		resolv = []byte(b.String())
	}
	for name, data := range map[string][]byte{"hostname": []byte(hostname + "\n"), "hosts": hosts, "resolv.conf": resolv} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// podContainers are the containers of pod id.
func (s *Service) podContainers(_ context.Context, id string) ([]*gcontainer.View, error) {
	return s.b.PodContainers(id), nil
}

// StopPodSandbox stops the pod's containers, tears its network down and
// ends its pause process. Stopping a stopped pod is not an error, nor is
// one that is gone.
func (s *Service) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	p, err := s.pods.get(req.GetPodSandboxId())
	if err != nil {
		if isNotFound(err) {
			return &runtimeapi.StopPodSandboxResponse{}, nil
		}
		return nil, err
	}
	cs, err := s.podContainers(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if err := s.stop(ctx, c.ID, 0); err != nil {
			return nil, fmt.Errorf("stop container %s: %w", c.ID, err)
		}
	}
	if err := s.stopPod(ctx, p); err != nil {
		return nil, err
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// StopPods stops every ready pod as StopPodSandbox does but its
// containers, which the daemon's shutdown stopped: gantryd's end with
// --live-restore=false leaves no pause process, network namespace, CNI
// address or pause cgroup behind. The pods stay, not ready, as their
// containers stay exited.
func (s *Service) StopPods(ctx context.Context) {
	for _, p := range s.pods.list() {
		if !p.ready() {
			continue
		}
		if err := s.stopPod(ctx, p); err != nil {
			s.log.Warn("stop pod at shutdown", "pod", p.ID, "error", err)
		}
	}
}

// stopPod tears a pod's network down, ends its pause process and records
// it not ready.
func (s *Service) stopPod(ctx context.Context, p *pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Networked {
		// A namespace gone with a reboot (the exec root is a tmpfs) still
		// gets its DEL, which frees what outlives it (host-local's
		// addresses on disk).
		path := p.NetNS
		if _, err := os.Stat(path); err != nil {
			path = ""
		}
		if err := s.cni.del(ctx, p.ID, path, p.config); err != nil {
			return err
		}
		p.Networked = false
	}
	if p.NetNS != "" {
		if err := unpinNetNS(p.NetNS); err != nil {
			return err
		}
	}
	if p.PausePid > 0 && monitor.IsPause(p.PausePid, s.cfg.Monitor) {
		stopPause(p.PausePid)
	}
	if p.Cgroup != "" {
		if err := removeCgroup(p.pauseCgroup()); err != nil {
			return err
		}
	}
	p.PausePid = 0
	p.Ready = false
	return s.pods.save(p)
}

// RemovePodSandbox removes a pod and its containers, stopping them first
// (as containerd does). Removing a pod that is gone is not an error.
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	p, err := s.pods.get(req.GetPodSandboxId())
	if err != nil {
		if isNotFound(err) {
			return &runtimeapi.RemovePodSandboxResponse{}, nil
		}
		return nil, err
	}
	if p.ready() {
		if _, err := s.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.ID}); err != nil {
			return nil, err
		}
	}
	cs, err := s.podContainers(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if err := s.b.RemoveContainer(ctx, c.ID, true, true); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("remove container %s: %w", c.ID, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.CgroupMade {
		if err := removeCgroup(p.Cgroup); err != nil {
			return nil, err
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		return nil, err
	}
	if err := s.pods.remove(p.ID); err != nil {
		return nil, err
	}
	s.list.swap(p.listed, nil, nil)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (s *Service) podStatus(p *pod) *runtimeapi.PodSandboxStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &runtimeapi.PodSandboxStatus{
		Id:             p.ID,
		Metadata:       p.config.GetMetadata(),
		State:          runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
		CreatedAt:      p.CreatedAt,
		Labels:         p.config.GetLabels(),
		Annotations:    p.config.GetAnnotations(),
		RuntimeHandler: "runc",
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: p.config.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
	}
	if p.Ready {
		st.State = runtimeapi.PodSandboxState_SANDBOX_READY
	}
	if len(p.IPs) > 0 {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: p.IPs[0]}
		for _, ip := range p.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st
}

// PodSandboxStatus reports a pod.
func (s *Service) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	p, err := s.pods.get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: s.podStatus(p), Timestamp: time.Now().UnixNano()}
	// The statuses of its containers, for the kubelet's evented PLEG.
	list, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: p.ID}})
	if err != nil {
		return nil, err
	}
	for _, c := range list.Containers {
		if st, err := s.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id}); err == nil {
			resp.ContainersStatuses = append(resp.ContainersStatuses, st.Status)
		}
	}
	if req.GetVerbose() {
		p.mu.Lock()
		resp.Info = map[string]string{"info": fmt.Sprintf(`{"pid":%d,"netns":%q}`, p.PausePid, p.NetNS)}
		p.mu.Unlock()
	}
	return resp, nil
}

// ListPodSandbox lists the pods the filter selects.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.PodSandbox
	for _, p := range s.pods.list() {
		if f.GetId() != "" && !strings.HasPrefix(p.ID, f.GetId()) {
			continue
		}
		m := s.listedPod(p)
		if f.GetState() != nil && f.GetState().GetState() != m.State {
			continue
		}
		if !selects(f.GetLabelSelector(), m.Labels) {
			continue
		}
		out = append(out, m)
	}
	return &runtimeapi.ListPodSandboxResponse{Items: out}, nil
}

// listedPod is the pod's message in ListPodSandbox, made again (with its
// encoding, which the CRI's codec sends) only when its state changes.
func (s *Service) listedPod(p *pod) *runtimeapi.PodSandbox {
	p.mu.Lock()
	defer p.mu.Unlock()
	state := runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	if p.Ready {
		state = runtimeapi.PodSandboxState_SANDBOX_READY
	}
	if p.listed != nil && p.listed.State == state {
		return p.listed
	}
	m := &runtimeapi.PodSandbox{Id: p.ID, Metadata: p.config.GetMetadata(), State: state, CreatedAt: p.CreatedAt,
		Labels: p.config.GetLabels(), Annotations: p.config.GetAnnotations(), RuntimeHandler: "runc"}
	wire, _ := proto.Marshal(m)
	s.list.swap(p.listed, m, wire)
	p.listed = m
	return m
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// adopt takes the pods a previous gantryd left: a ready pod whose pause
// process or network namespace is gone is marked not ready (the kubelet
// then stops and recreates it).
func (s *Service) adopt(ctx context.Context) {
	for _, p := range s.pods.list() {
		if !p.Ready {
			continue
		}
		_, nsErr := os.Stat(p.NetNS)
		if !monitor.IsPause(p.PausePid, s.cfg.Monitor) || p.NetNS != "" && nsErr != nil {
			s.log.Warn("a pod lost its pause process or network namespace; it is not ready", "pod", p.ID)
			p.Ready = false
			if err := s.pods.save(p); err != nil {
				s.log.Warn("save pod", "pod", p.ID, "error", err)
			}
		}
	}
}
