package cri

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodResources: a pod's cgroup is limited by its resources plus its
// overhead (a limit the resources do not set stays unset); what cannot be
// honoured is refused naming the field.
func TestPodResources(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	i := func(v int64) *int64 { return &v }
	res, err := specResources(&runtimeapi.LinuxContainerResources{CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 64 << 20}, "resources")
	if err != nil {
		t.Fatal(err)
	}
	overhead, err := specResources(&runtimeapi.LinuxContainerResources{CpuShares: 10, CpuQuota: 5000, CpuPeriod: 50000, MemoryLimitInBytes: 16 << 20}, "overhead")
	if err != nil {
		t.Fatal(err)
	}
	want := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u(522), Quota: i(60000), Period: u(100000)}, Memory: &specs.LinuxMemory{Limit: i(80 << 20)}}
	if diff := cmp.Diff(want, sumResources(res, overhead)); diff != "" {
		t.Errorf("pod cgroup limits (-want +got):\n%s", diff)
	}
	noMem, _ := specResources(&runtimeapi.LinuxContainerResources{CpuShares: 2}, "resources")
	if got := sumResources(noMem, overhead); got.Memory != nil || *got.CPU.Shares != 12 || got.CPU.Quota != nil {
		t.Errorf("resources without a memory or CPU limit plus overhead: %+v %+v", got.Memory, got.CPU)
	}
	unlimited, _ := specResources(&runtimeapi.LinuxContainerResources{CpuQuota: -1, CpuPeriod: 100000}, "resources")
	if got := sumResources(unlimited, overhead); *got.CPU.Quota != -1 {
		t.Errorf("no CPU quota (-1) plus overhead: %d, want -1", *got.CPU.Quota)
	}
	if r, err := specResources(&runtimeapi.LinuxContainerResources{}, "resources"); r != nil || err != nil {
		t.Errorf("empty resources: %v, %v; want none", r, err)
	}
	for field, r := range map[string]*runtimeapi.LinuxContainerResources{
		"linux.overhead.oom_score_adj":   {OomScoreAdj: 10},
		"linux.overhead.hugepage_limits": {HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 1 << 21}}},
		"linux.overhead.unified":         {Unified: map[string]string{"memory.high": "1"}},
	} {
		_, err := specResources(r, "overhead")
		if status.Code(statusOf(err)) != codes.Unimplemented || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want Unimplemented naming it", field, err)
		}
	}
}
