package cri

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Stats are gantryd's (docker stats' samples, from the container's
// cgroup), reshaped.

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

// sample is one stats sample of a container, nil when it has none.
func (s *Service) sample(ctx context.Context, id string) (*container.StatsResponse, error) {
	ch, err := s.b.ContainerStats(ctx, id, false, true)
	if err != nil {
		return nil, err
	}
	st, ok := <-ch
	if !ok {
		return nil, ctx.Err()
	}
	for range ch { // let the sampler end
	}
	return st, nil
}

// containerStats reshapes a sample; the memory working set is the usage
// less the inactive file cache, as the kubelet counts it.
func containerStats(id string, labels map[string]string, st *container.StatsResponse) *runtimeapi.ContainerStats {
	md, crilabels, annotations := criLabels(labels)
	ts := st.Read.UnixNano()
	if st.Read.IsZero() {
		ts = time.Now().UnixNano()
	}
	inactive := st.MemoryStats.Stats["total_inactive_file"]
	if v, ok := st.MemoryStats.Stats["inactive_file"]; ok && inactive == 0 {
		inactive = v
	}
	ws := st.MemoryStats.Usage
	if ws > inactive {
		ws -= inactive
	} else {
		ws = 0
	}
	rss := st.MemoryStats.Stats["total_rss"]
	if v, ok := st.MemoryStats.Stats["anon"]; ok && rss == 0 {
		rss = v
	}
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: id, Metadata: md, Labels: crilabels, Annotations: annotations},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(st.CPUStats.CPUUsage.TotalUsage)},
		Memory: &runtimeapi.MemoryUsage{
			Timestamp: ts, WorkingSetBytes: u64(ws), UsageBytes: u64(st.MemoryStats.Usage), RssBytes: u64(rss),
			PageFaults: u64(st.MemoryStats.Stats["total_pgfault"]), MajorPageFaults: u64(st.MemoryStats.Stats["total_pgmajfault"]),
		},
	}
}

// ContainerStats reports one container's usage.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	c, err := s.b.ContainerInspect(ctx, id, false)
	if err != nil {
		return nil, err
	}
	st, err := s.sample(ctx, id)
	if err != nil {
		return nil, err
	}
	stats := containerStats(id, c.Config.Labels, st)
	s.writableLayer(ctx, stats)
	return &runtimeapi.ContainerStatsResponse{Stats: stats}, nil
}

// writableLayer adds the usage of the container's read-write snapshot
// (what the kubelet counts against its ephemeral storage), from gantryd's
// size of it (docker ps -s); left out when it cannot be measured.
func (s *Service) writableLayer(ctx context.Context, stats *runtimeapi.ContainerStats) {
	c, err := s.b.ContainerInspect(ctx, stats.Attributes.Id, true)
	if err != nil || c.SizeRw == nil {
		return
	}
	stats.WritableLayer = &runtimeapi.FilesystemUsage{
		Timestamp: stats.Cpu.Timestamp,
		FsId:      &runtimeapi.FilesystemIdentifier{Mountpoint: s.cfg.ImageFS},
		UsedBytes: u64(uint64(max(*c.SizeRw, 0))),
	}
}

// ListContainerStats reports the usage of the containers the filter
// selects.
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	list, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		Id: f.GetId(), PodSandboxId: f.GetPodSandboxId(), LabelSelector: f.GetLabelSelector(),
	}})
	if err != nil {
		return nil, err
	}
	out := &runtimeapi.ListContainerStatsResponse{}
	for _, c := range list.Containers {
		st, err := s.sample(ctx, c.Id)
		if err != nil {
			if isNotFound(err) {
				continue // removed meanwhile
			}
			return nil, err
		}
		stats := containerStats(c.Id, nil, st)
		stats.Attributes.Metadata, stats.Attributes.Labels, stats.Attributes.Annotations = c.Metadata, c.Labels, c.Annotations
		s.writableLayer(ctx, stats)
		out.Stats = append(out.Stats, stats)
	}
	return out, nil
}

// podStats sums the usage of a pod's containers; the network is the
// pod's namespace's, as its running containers see it.
func (s *Service) podStats(ctx context.Context, p *pod) (*runtimeapi.PodSandboxStats, error) {
	md := p.config.GetMetadata()
	out := &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{Id: p.ID, Metadata: md, Labels: p.config.GetLabels(), Annotations: p.config.GetAnnotations()},
	}
	now := time.Now().UnixNano()
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu:    &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: u64(0)},
		Memory: &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: u64(0), UsageBytes: u64(0), RssBytes: u64(0)},
	}
	cs, err := s.podContainers(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		st, err := s.sample(ctx, c.ID)
		if err != nil {
			continue
		}
		stats := containerStats(c.ID, c.Config.Labels, st)
		s.writableLayer(ctx, stats)
		linux.Containers = append(linux.Containers, stats)
		linux.Cpu.UsageCoreNanoSeconds.Value += stats.Cpu.UsageCoreNanoSeconds.Value
		linux.Memory.WorkingSetBytes.Value += stats.Memory.WorkingSetBytes.Value
		linux.Memory.UsageBytes.Value += stats.Memory.UsageBytes.Value
		linux.Memory.RssBytes.Value += stats.Memory.RssBytes.Value
		if linux.Network == nil && len(st.Networks) > 0 {
			linux.Network = &runtimeapi.NetworkUsage{Timestamp: now}
			for name, n := range st.Networks {
				iface := &runtimeapi.NetworkInterfaceUsage{Name: name, RxBytes: u64(n.RxBytes), RxErrors: u64(n.RxErrors), TxBytes: u64(n.TxBytes), TxErrors: u64(n.TxErrors)}
				linux.Network.Interfaces = append(linux.Network.Interfaces, iface)
				if name == "eth0" {
					linux.Network.DefaultInterface = iface
				}
			}
		}
	}
	out.Linux = linux
	return out, nil
}

// PodSandboxStats reports a pod's usage.
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	p, err := s.pods.get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	st, err := s.podStats(ctx, p)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: st}, nil
}

// ListPodSandboxStats reports the usage of the ready pods the filter
// selects.
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	out := &runtimeapi.ListPodSandboxStatsResponse{}
	for _, p := range s.pods.list() {
		if !p.ready() || f.GetId() != "" && !strings.HasPrefix(p.ID, f.GetId()) || !selects(f.GetLabelSelector(), p.config.GetLabels()) {
			continue
		}
		st, err := s.podStats(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("stats of pod %s: %w", p.ID, err)
		}
		out.Stats = append(out.Stats, st)
	}
	return out, nil
}
