package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	gcontainer "github.com/gantry/gantry/container"
)

// containerName is the container's gantry name, as cri-dockerd names it:
// k8s_<container>_<pod>_<namespace>_<pod uid>_<attempt>.
func containerName(md *runtimeapi.ContainerMetadata, pod *runtimeapi.PodSandboxMetadata) string {
	return fmt.Sprintf("k8s_%s_%s_%s_%s_%d", md.GetName(), pod.GetName(), pod.GetNamespace(), pod.GetUid(), md.GetAttempt())
}

// CreateContainer creates a container in a ready pod.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cc := req.GetConfig()
	md := cc.GetMetadata()
	switch {
	case cc == nil:
		return nil, invalid("container config is nil")
	case md == nil || md.GetName() == "":
		return nil, invalid("container config must include metadata and its name")
	case cc.GetImage().GetImage() == "":
		return nil, invalid("container config must include an image")
	}
	p, err := s.pods.get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if _, err := s.b.ImageInspect(ctx, cc.GetImage().GetImage()); err != nil {
		if isNotFound(err) {
			return nil, notFound(fmt.Sprintf("image %q not found", cc.GetImage().GetImage()))
		}
		return nil, err
	}
	p.mu.Lock()
	ready := p.Ready
	cfg, hc, link, err := s.containerSpec(p, cc, req.GetSandboxConfig())
	p.mu.Unlock()
	if !ready {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("sandbox %s is not ready", p.ID))
	}
	if err != nil {
		return nil, err
	}
	name := containerName(md, p.config.GetMetadata())
	id, err := s.b.CreatePodContainer(ctx, name, cfg, hc, link)
	if err != nil {
		if errdefs.IsConflict(err) { // the name is in use
			return nil, alreadyExists(fmt.Sprintf("failed to reserve container name %q: %v", name, err))
		}
		return nil, err
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

func jsonLabel(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// containerSpec turns a CRI container config into gantryd's: the process,
// mounts, security context and resources, and the pod's namespaces.
func (s *Service) containerSpec(p *pod, cc *runtimeapi.ContainerConfig, sandboxCfg *runtimeapi.PodSandboxConfig) (*container.Config, *container.HostConfig, gcontainer.Pod, error) {
	if sandboxCfg == nil {
		sandboxCfg = p.config
	}
	var link gcontainer.Pod
	linux := cc.GetLinux()
	sc := linux.GetSecurityContext()
	podNS := p.config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	cfg := &container.Config{
		Image:       cc.GetImage().GetImage(),
		Entrypoint:  cc.GetCommand(),
		Cmd:         cc.GetArgs(),
		WorkingDir:  cc.GetWorkingDir(),
		Tty:         cc.GetTty(),
		OpenStdin:   cc.GetStdin(),
		StdinOnce:   cc.GetStdinOnce(),
		AttachStdin: cc.GetStdin(),
		Labels: map[string]string{
			labelSandboxID:   p.ID,
			labelMetadata:    jsonLabel(cc.GetMetadata()),
			labelLabels:      jsonLabel(cc.GetLabels()),
			labelAnnotations: jsonLabel(cc.GetAnnotations()),
			labelImage:       cc.GetImage().GetImage(),
		},
	}
	for k, v := range cc.GetLabels() {
		if _, ok := cfg.Labels[k]; !ok {
			cfg.Labels[k] = v
		}
	}
	for _, kv := range cc.GetEnvs() {
		cfg.Env = append(cfg.Env, kv.GetKey()+"="+string(kv.GetValue()))
	}
	hostname, err := os.ReadFile(filepath.Join(p.Dir, "hostname"))
	if err != nil {
		return nil, nil, link, err
	}
	cfg.Hostname = strings.TrimSpace(string(hostname))
	hc := &container.HostConfig{NetworkMode: "none"}
	link = gcontainer.Pod{
		SandboxID:      p.ID,
		NetNS:          p.NetNS,
		CgroupParent:   p.containerCgroup(),
		HostsPath:      filepath.Join(p.Dir, "hosts"),
		HostnamePath:   filepath.Join(p.Dir, "hostname"),
		ResolvConfPath: filepath.Join(p.Dir, "resolv.conf"),
	}
	if podNS.GetNetwork() == runtimeapi.NamespaceMode_NODE {
		hc.NetworkMode, hc.UTSMode = "host", "host"
	}
	if podNS.GetIpc() == runtimeapi.NamespaceMode_NODE {
		hc.IpcMode = "host"
	} else {
		link.IPCNS = fmt.Sprintf("/proc/%d/ns/ipc", p.PausePid)
	}
	switch sc.GetNamespaceOptions().GetPid() {
	case runtimeapi.NamespaceMode_POD:
		if podNS.GetPid() == runtimeapi.NamespaceMode_NODE {
			hc.PidMode = "host"
		} else {
			link.PIDNS = fmt.Sprintf("/proc/%d/ns/pid", p.PausePid)
		}
	case runtimeapi.NamespaceMode_CONTAINER:
	case runtimeapi.NamespaceMode_NODE:
		hc.PidMode = "host"
	default:
		return nil, nil, link, unimplemented(fmt.Sprintf("pid namespace mode %v", sc.GetNamespaceOptions().GetPid()))
	}
	if dir := sandboxCfg.GetLogDirectory(); dir != "" && cc.GetLogPath() != "" {
		link.LogPath = filepath.Join(dir, cc.GetLogPath())
		cfg.Labels[labelLogPath] = link.LogPath
		if err := os.MkdirAll(filepath.Dir(link.LogPath), 0o755); err != nil {
			return nil, nil, link, err
		}
	}
	hc.Sysctls = p.config.GetLinux().GetSysctls()
	for _, m := range cc.GetMounts() {
		// An image volume has no host path: refused as not implemented
		// (what critest and the kubelet take for "not supported").
		if m.GetImage() != nil {
			return nil, nil, link, unimplemented("image volumes")
		}
		if m.GetContainerPath() == "" || m.GetHostPath() == "" {
			return nil, nil, link, invalid("a mount needs a host path and a container path")
		}
		if m.GetRecursiveReadOnly() {
			return nil, nil, link, unimplemented("recursive read-only mounts")
		}
		if len(m.GetUidMappings()) > 0 || len(m.GetGidMappings()) > 0 {
			return nil, nil, link, unimplemented("idmapped mounts")
		}
		// As containerd: a host path that is not there is made a directory.
		if _, err := os.Stat(m.GetHostPath()); os.IsNotExist(err) {
			if err := os.MkdirAll(m.GetHostPath(), 0o755); err != nil {
				return nil, nil, link, err
			}
		}
		prop := mount.PropagationRPrivate
		switch m.GetPropagation() {
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			prop = mount.PropagationRSlave
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			prop = mount.PropagationRShared
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.GetHostPath(), Target: m.GetContainerPath(), ReadOnly: m.GetReadonly(), BindOptions: &mount.BindOptions{Propagation: prop}})
	}
	for _, d := range cc.GetDevices() {
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.GetHostPath(), PathInContainer: d.GetContainerPath(), CgroupPermissions: d.GetPermissions()})
	}
	if len(cc.GetCDIDevices()) > 0 {
		return nil, nil, link, unimplemented("CDI devices")
	}
	if err := securityContext(cfg, hc, sc, p.config.GetLinux().GetSecurityContext().GetPrivileged()); err != nil {
		return nil, nil, link, err
	}
	if err := resources(hc, linux.GetResources()); err != nil {
		return nil, nil, link, err
	}
	return cfg, hc, link, nil
}

// securityContext applies a container's security context.
func securityContext(cfg *container.Config, hc *container.HostConfig, sc *runtimeapi.LinuxContainerSecurityContext, podPrivileged bool) error {
	if sc.GetPrivileged() && !podPrivileged {
		return invalid("no privileged container allowed in sandbox")
	}
	hc.Privileged = sc.GetPrivileged()
	hc.ReadonlyRootfs = sc.GetReadonlyRootfs()
	switch {
	case sc.GetRunAsUser() != nil:
		cfg.User = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	case sc.GetRunAsUsername() != "":
		cfg.User = sc.GetRunAsUsername()
	}
	if sc.GetRunAsGroup() != nil {
		if cfg.User == "" {
			return invalid("a run-as group needs a run-as user or user name")
		}
		cfg.User += ":" + strconv.FormatInt(sc.GetRunAsGroup().GetValue(), 10)
	}
	for _, g := range sc.GetSupplementalGroups() {
		hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
	}
	if sc.GetSupplementalGroupsPolicy() != runtimeapi.SupplementalGroupsPolicy_Merge {
		return unimplemented("the supplemental groups policy Strict")
	}
	if caps := sc.GetCapabilities(); caps != nil {
		hc.CapAdd = caps.GetAddCapabilities()
		hc.CapDrop = caps.GetDropCapabilities()
		if len(caps.GetAddAmbientCapabilities()) > 0 {
			return unimplemented("ambient capabilities")
		}
	}
	if sc.GetNoNewPrivs() {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges=true")
	}
	// The CRI's default (no profile) is unconfined, as containerd's;
	// RuntimeDefault is Docker's profile (moby/profiles), as gantryd's
	// containers have.
	seccomp := sc.GetSeccomp()
	switch {
	case seccomp == nil && sc.GetSeccompProfilePath() != "":
		return unimplemented("the deprecated seccomp_profile_path (use seccomp)")
	case seccomp == nil, seccomp.GetProfileType() == runtimeapi.SecurityProfile_Unconfined:
		if !hc.Privileged {
			hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined")
		}
	case seccomp.GetProfileType() == runtimeapi.SecurityProfile_RuntimeDefault:
	case seccomp.GetProfileType() == runtimeapi.SecurityProfile_Localhost:
		ref := seccomp.GetLocalhostRef()
		if !filepath.IsAbs(ref) {
			return invalid(fmt.Sprintf("seccomp profile %q: a localhost profile is an absolute path", ref))
		}
		b, err := os.ReadFile(ref)
		if err != nil {
			return invalid(fmt.Sprintf("load seccomp profile %q: %v", ref, err))
		}
		hc.SecurityOpt = append(hc.SecurityOpt, "seccomp="+string(b))
	}
	// AppArmor: RuntimeDefault is Docker's profile where the host has
	// AppArmor and, as containerd, no profile where it has none (the
	// container is then as confined as any on that host).
	a := sc.GetApparmor()
	switch {
	case a == nil && sc.GetApparmorProfile() != "":
		return unimplemented("the deprecated apparmor_profile (use apparmor)")
	case a == nil, a.GetProfileType() == runtimeapi.SecurityProfile_Unconfined:
	case a.GetProfileType() == runtimeapi.SecurityProfile_RuntimeDefault:
		if appArmorEnabled() {
			hc.SecurityOpt = append(hc.SecurityOpt, "apparmor=docker-default")
		}
	case a.GetProfileType() == runtimeapi.SecurityProfile_Localhost:
		hc.SecurityOpt = append(hc.SecurityOpt, "apparmor="+a.GetLocalhostRef())
	}
	if o := sc.GetSelinuxOptions(); o != nil && (o.User != "" || o.Role != "" || o.Type != "" || o.Level != "") {
		return unimplemented("SELinux options")
	}
	if sc.GetMaskedPaths() != nil || sc.GetReadonlyPaths() != nil {
		hc.MaskedPaths = append([]string{}, sc.GetMaskedPaths()...)
		hc.ReadonlyPaths = append([]string{}, sc.GetReadonlyPaths()...)
	}
	return nil
}

// resources maps a container's cgroup limits.
func resources(hc *container.HostConfig, r *runtimeapi.LinuxContainerResources) error {
	if r == nil {
		return nil
	}
	hc.CPUPeriod = r.GetCpuPeriod()
	hc.CPUQuota = r.GetCpuQuota()
	hc.CPUShares = r.GetCpuShares()
	hc.Memory = r.GetMemoryLimitInBytes()
	hc.OomScoreAdj = int(r.GetOomScoreAdj())
	hc.CpusetCpus = r.GetCpusetCpus()
	hc.CpusetMems = r.GetCpusetMems()
	if r.GetMemorySwapLimitInBytes() > 0 {
		hc.MemorySwap = r.GetMemorySwapLimitInBytes()
	}
	for _, h := range r.GetHugepageLimits() {
		if h.GetLimit() > 0 {
			return unimplemented("hugepage limits")
		}
	}
	if len(r.GetUnified()) > 0 {
		return unimplemented("cgroup v2 unified resources")
	}
	return nil
}

// StartContainer starts a created container.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := s.b.StartContainer(ctx, id); err != nil {
		if isNotModified(err) {
			return nil, errdefs.ErrFailedPrecondition.WithMessage("container " + id + " is already running")
		}
		return nil, err
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer stops a container: its stop signal, then SIGKILL after
// the timeout. Stopping a stopped or removed container is not an error.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		if isNotFound(err) {
			return &runtimeapi.StopContainerResponse{}, nil
		}
		return nil, err
	}
	if err := s.stop(ctx, id, int(req.GetTimeout())); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// stop stops a container; one that is not running, or that exited while
// being signalled, is stopped.
func (s *Service) stop(ctx context.Context, id string, timeout int) error {
	err := s.b.StopContainer(ctx, id, "", &timeout)
	if err == nil || isNotModified(err) || isNotFound(err) {
		return nil
	}
	if c, ierr := s.b.ContainerInspect(ctx, id, false); ierr == nil && (c.State == nil || !c.State.Running) {
		return nil
	}
	return err
}

// RemoveContainer removes a container, killing it if it runs. Removing a
// removed container is not an error.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		if isNotFound(err) {
			return &runtimeapi.RemoveContainerResponse{}, nil
		}
		return nil, err
	}
	if err := s.b.RemoveContainer(ctx, id, true, true); err != nil && !isNotFound(err) {
		return nil, err
	}
	s.list.forget(id)
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// containerID resolves an ID (or a unique prefix) of a CRI container.
func (s *Service) containerID(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", invalid("container id is empty")
	}
	c, err := s.b.PodContainer(id)
	if err != nil || c.Pod == nil {
		if err == nil || isNotFound(err) {
			return "", notFound(fmt.Sprintf("an error occurred when try to find container %q: not found", id))
		}
		return "", err
	}
	return c.ID, nil
}

func containerState(status container.ContainerState) runtimeapi.ContainerState {
	switch status {
	case container.StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case container.StateExited, container.StateDead:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

func criLabels(l map[string]string) (md *runtimeapi.ContainerMetadata, labels, annotations map[string]string) {
	md = &runtimeapi.ContainerMetadata{}
	json.Unmarshal([]byte(l[labelMetadata]), md)
	json.Unmarshal([]byte(l[labelLabels]), &labels)
	json.Unmarshal([]byte(l[labelAnnotations]), &annotations)
	return md, labels, annotations
}

func unixNano(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return 0
	}
	return t.UnixNano()
}

// ContainerStatus reports a container.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	c, err := s.b.ContainerInspect(ctx, id, false)
	if err != nil {
		return nil, err
	}
	md, labels, annotations := criLabels(c.Config.Labels)
	st := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    md,
		CreatedAt:   unixNano(c.Created),
		Image:       &runtimeapi.ImageSpec{Image: c.Config.Labels[labelImage]},
		ImageRef:    c.Image,
		ImageId:     c.Image,
		Labels:      labels,
		Annotations: annotations,
		LogPath:     c.Config.Labels[labelLogPath],
	}
	if c.State != nil {
		st.State = containerState(c.State.Status)
		st.StartedAt = unixNano(c.State.StartedAt)
		if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			st.FinishedAt = unixNano(c.State.FinishedAt)
			st.ExitCode = int32(c.State.ExitCode)
			switch {
			case c.State.OOMKilled:
				st.Reason = "OOMKilled"
			case c.State.ExitCode == 0:
				st.Reason = "Completed"
			default:
				st.Reason = "Error"
			}
			st.Message = c.State.Error
		}
	}
	for _, m := range c.Mounts {
		prop := runtimeapi.MountPropagation_PROPAGATION_PRIVATE
		switch m.Propagation {
		case mount.PropagationRSlave, mount.PropagationSlave:
			prop = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		case mount.PropagationRShared, mount.PropagationShared:
			prop = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		}
		st.Mounts = append(st.Mounts, &runtimeapi.Mount{ContainerPath: m.Destination, HostPath: m.Source, Readonly: !m.RW, Propagation: prop})
	}
	return &runtimeapi.ContainerStatusResponse{Status: st}, nil
}

// ListContainers lists the CRI's containers the filter selects.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	var views []*gcontainer.View
	if f.GetPodSandboxId() != "" {
		p, err := s.pods.get(f.GetPodSandboxId())
		if err != nil {
			if isNotFound(err) {
				return &runtimeapi.ListContainersResponse{}, nil
			}
			return nil, err
		}
		views = s.b.PodContainers(p.ID)
	} else {
		views = s.b.PodContainers("")
		defer s.list.keep(views)
	}
	out := make([]*runtimeapi.Container, 0, len(views))
	for _, v := range views {
		state := containerState(container.ContainerState(v.State.Status))
		if f != nil {
			if f.GetId() != "" && !strings.HasPrefix(v.ID, f.GetId()) {
				continue
			}
			if f.GetState() != nil && f.GetState().GetState() != state {
				continue
			}
		}
		c := s.list.get(v, state)
		if f != nil && !selects(f.GetLabelSelector(), c.Labels) {
			continue
		}
		out = append(out, c)
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

// listCache holds the CRI's view of each container as ListContainers
// answers it, made again only when its state changes (the rest never
// does), and its protobuf encoding: protobuf-go marshals the label and
// annotation maps slowly (3 µs a container), so the CRI's codec
// (listCodec) sends the encoding kept here instead of making it at each
// call.
type listCache struct {
	mu  sync.Mutex
	ids map[string]*runtimeapi.Container // by container ID
	// The encodings of ids' messages and of the pods' (ListPodSandbox's).
	wire map[proto.Message][]byte
	// The last list encoded: its messages and its encoding.
	last     []*runtimeapi.Container
	lastWire []byte
}

// get is the message of container v in state.
func (c *listCache) get(v *gcontainer.View, state runtimeapi.ContainerState) *runtimeapi.Container {
	c.mu.Lock()
	old := c.ids[v.ID]
	c.mu.Unlock()
	if old != nil && old.State == state {
		return old
	}
	var m *runtimeapi.Container
	if old != nil { // the CRI's labels are decoded once in a container's life
		m = &runtimeapi.Container{Id: old.Id, PodSandboxId: old.PodSandboxId, Metadata: old.Metadata, Image: old.Image,
			ImageRef: old.ImageRef, ImageId: old.ImageId, CreatedAt: old.CreatedAt, Labels: old.Labels, Annotations: old.Annotations}
	} else {
		md, labels, annotations := criLabels(v.Config.Labels)
		m = &runtimeapi.Container{
			Id:           v.ID,
			PodSandboxId: v.Pod.SandboxID,
			Metadata:     md,
			Image:        &runtimeapi.ImageSpec{Image: v.Config.Labels[labelImage]},
			ImageRef:     v.ImageID.String(),
			ImageId:      v.ImageID.String(),
			CreatedAt:    v.Created.UnixNano(),
			Labels:       labels,
			Annotations:  annotations,
		}
	}
	m.State = state
	wire, err := proto.Marshal(m)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids, c.wire = map[string]*runtimeapi.Container{}, map[proto.Message][]byte{}
	}
	if cur := c.ids[v.ID]; cur != nil {
		delete(c.wire, cur)
	}
	c.ids[v.ID] = m
	if err == nil {
		c.wire[m] = wire
	}
	return m
}

// encodings are the protobuf encodings of ms, nil for a message not of
// the cache.
func encodings[M proto.Message](c *listCache, ms []M) [][]byte {
	out := make([][]byte, len(ms))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range ms {
		out[i] = c.wire[m]
	}
	return out
}

// swap replaces a pod's message old (nil: none) with m and its encoding
// (m nil: the pod is gone).
func (c *listCache) swap(old, m *runtimeapi.PodSandbox, wire []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old != nil {
		delete(c.wire, old)
	}
	if m != nil && wire != nil {
		if c.wire == nil {
			c.wire = map[proto.Message][]byte{}
		}
		c.wire[m] = wire
	}
}

// lastList is the encoding of the last list encoded, if it had the
// messages ms (the kubelet lists every second, mostly the same).
func (c *listCache) lastList(ms []*runtimeapi.Container) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || !slices.Equal(c.last, ms) {
		return nil, false
	}
	return c.lastWire, true
}

// setLastList records the encoding of a list (never written after: gRPC
// sends it as it is).
func (c *listCache) setLastList(ms []*runtimeapi.Container, wire []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last, c.lastWire = slices.Clone(ms), wire
}

// forget drops container id's message (it was removed), so that a client
// that only ever lists by pod does not keep removed containers here
// (keep covers the containers removed another way at the next full list).
func (c *listCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.ids[id]; m != nil {
		delete(c.ids, id)
		delete(c.wire, m)
	}
}

// keep forgets the containers a full list no longer has.
func (c *listCache) keep(all []*gcontainer.View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ids) <= len(all) {
		return
	}
	live := make(map[string]bool, len(all))
	for _, v := range all {
		live[v.ID] = true
	}
	for id, m := range c.ids {
		if !live[id] {
			delete(c.ids, id)
			delete(c.wire, m)
		}
	}
}

// listCodec is the CRI server's gRPC codec: protobuf, with the encodings
// of ListContainers' messages taken from the cache (a repeated message
// field is its elements' encodings, each after its tag and length).
type listCodec struct{ cache *listCache }

func (listCodec) Name() string { return "proto" }

func (c listCodec) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case *runtimeapi.ListContainersResponse:
		if b, ok := c.cache.lastList(v.GetContainers()); ok {
			return b, nil
		}
		b, err := encodeRepeated(c.cache, v.GetContainers())
		if err == nil {
			c.cache.setLastList(v.GetContainers(), b)
		}
		return b, err
	case *runtimeapi.ListPodSandboxResponse:
		return encodeRepeated(c.cache, v.GetItems())
	case proto.Message:
		return proto.Marshal(v)
	}
	return nil, fmt.Errorf("cri codec: %T is not a protobuf message", v)
}

// encodeRepeated is the encoding of a message whose only field, number
// 1, is the repeated message field ms.
func encodeRepeated[M proto.Message](c *listCache, ms []M) ([]byte, error) {
	encs := encodings(c, ms)
	size := 0
	for i, m := range ms {
		if encs[i] == nil {
			b, err := proto.Marshal(m)
			if err != nil {
				return nil, err
			}
			encs[i] = b
		}
		size += protowire.SizeTag(1) + protowire.SizeBytes(len(encs[i]))
	}
	out := make([]byte, 0, size)
	for _, b := range encs {
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, b)
	}
	return out, nil
}

func (listCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("cri codec: %T is not a protobuf message", v)
	}
	return proto.Unmarshal(data, m)
}

// ReopenContainerLog has a running container's log file created anew.
func (s *Service) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := s.b.ReopenContainerLog(ctx, id); err != nil {
		return nil, err
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}

// UpdateContainerResources changes a container's cgroup limits (the
// kubelet's in-place resize), live when it runs.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if req.GetWindows() != nil {
		return nil, invalid("windows resources on linux")
	}
	r := req.GetLinux()
	if r == nil {
		return &runtimeapi.UpdateContainerResourcesResponse{}, nil
	}
	c, err := s.b.ContainerInspect(ctx, id, false)
	if err != nil {
		return nil, err
	}
	hc := &container.HostConfig{}
	if err := resources(hc, r); err != nil {
		return nil, err
	}
	if c.HostConfig != nil && hc.OomScoreAdj != c.HostConfig.OomScoreAdj {
		return nil, unimplemented("changing the OOM score adjustment of a container")
	}
	if _, err := s.b.UpdateContainer(ctx, id, container.UpdateConfig{Resources: hc.Resources}); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// appArmorEnabled reports whether the host's kernel enforces AppArmor.
func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}
