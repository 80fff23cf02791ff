package runtime

import (
	"context"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update changes the cgroup limits of running container id to the ones
// set in res (memory, swap and reservation, CPU shares, period, quota and
// sets, pids, block IO weight); the others stay. An unknown id is a
// not-found error; runc's message (the kernel refusing a memory limit
// below the usage, say) is the error's text.
func (r *Runc) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	args := []string{"update"}
	i64 := func(flag string, v *int64) {
		if v != nil {
			args = append(args, flag, strconv.FormatInt(*v, 10))
		}
	}
	u64 := func(flag string, v *uint64) {
		if v != nil {
			args = append(args, flag, strconv.FormatUint(*v, 10))
		}
	}
	if m := res.Memory; m != nil {
		i64("--memory", m.Limit)
		i64("--memory-swap", m.Swap)
		i64("--memory-reservation", m.Reservation)
	}
	if c := res.CPU; c != nil {
		u64("--cpu-share", c.Shares)
		u64("--cpu-period", c.Period)
		i64("--cpu-quota", c.Quota)
		if c.Cpus != "" {
			args = append(args, "--cpuset-cpus", c.Cpus)
		}
		if c.Mems != "" {
			args = append(args, "--cpuset-mems", c.Mems)
		}
	}
	if res.Pids != nil {
		i64("--pids-limit", res.Pids.Limit)
	}
	if b := res.BlockIO; b != nil && b.Weight != nil {
		args = append(args, "--blkio-weight", strconv.FormatUint(uint64(*b.Weight), 10))
	}
	_, err := r.output(ctx, id, append(args, id)...)
	return err
}
