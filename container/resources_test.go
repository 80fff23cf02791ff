package container

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSpecResources(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	for _, tc := range []struct {
		name string
		in   container.Resources
		want *specs.LinuxResources
	}{
		{name: "none", in: container.Resources{}, want: &specs.LinuxResources{}},
		{name: "memory and swap", in: container.Resources{Memory: 64 << 20, MemorySwap: 128 << 20},
			want: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)}}},
		{name: "cpus", in: container.Resources{NanoCPUs: 1_500_000_000},
			want: &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(100000), Quota: i64(150000)}}},
		{name: "shares and cpuset", in: container.Resources{CPUShares: 512, CpusetCpus: "0"},
			want: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512), Cpus: "0"}}},
		{name: "pids", in: container.Resources{PidsLimit: i64(50)},
			want: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(50)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := specResources(tc.in)
			got.Devices = nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
