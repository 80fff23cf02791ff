package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type updateOptions struct {
	memory, memorySwap, memoryReservation string
	cpus                                  string
	cpuShares, cpuPeriod, cpuQuota        int64
	cpuRtPeriod, cpuRtRuntime             int64
	cpusetCpus, cpusetMems                string
	pidsLimit                             int64
	blkioWeight                           uint16
	restart                               string
}

func newUpdateCommand(c *Cli) *cobra.Command {
	var opts updateOptions
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpdate(cmd.Context(), c, cmd.Flags(), opts, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.memory, "memory", "m", "", "Memory limit")
	fl.StringVar(&opts.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fl.StringVar(&opts.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fl.StringVar(&opts.cpus, "cpus", "", "Number of CPUs")
	fl.Int64VarP(&opts.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fl.Int64Var(&opts.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fl.Int64Var(&opts.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fl.Int64Var(&opts.cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	fl.Int64Var(&opts.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	fl.StringVar(&opts.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fl.StringVar(&opts.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fl.Int64Var(&opts.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fl.Uint16Var(&opts.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable")
	fl.StringVar(&opts.restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}

// runUpdate sends the changed limits to each container, printing each
// name as typed, as docker update.
func runUpdate(ctx context.Context, c *Cli, fl *pflag.FlagSet, opts updateOptions, containers []string) error {
	if fl.NFlag() == 0 {
		return fmt.Errorf("you must provide one or more flags when using this command")
	}
	var r container.Resources
	for _, s := range []struct {
		flag, v string
		dst     *int64
	}{{"memory", opts.memory, &r.Memory}, {"memory-swap", opts.memorySwap, &r.MemorySwap}, {"memory-reservation", opts.memoryReservation, &r.MemoryReservation}} {
		switch {
		case s.v == "":
		case s.flag == "memory-swap" && s.v == "-1":
			*s.dst = -1
		default:
			n, err := units.RAMInBytes(s.v)
			if err != nil {
				return fmt.Errorf("invalid argument %q for \"--%s\" flag: %v", s.v, s.flag, err)
			}
			*s.dst = n
		}
	}
	if opts.cpus != "" {
		n, err := strconv.ParseFloat(opts.cpus, 64)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--cpus\" flag: failed to parse %v as a rational number", opts.cpus, opts.cpus)
		}
		r.NanoCPUs = int64(n * 1e9)
	}
	r.CPUShares, r.CPUPeriod, r.CPUQuota = opts.cpuShares, opts.cpuPeriod, opts.cpuQuota
	r.CPURealtimePeriod, r.CPURealtimeRuntime = opts.cpuRtPeriod, opts.cpuRtRuntime
	r.CpusetCpus, r.CpusetMems, r.BlkioWeight = opts.cpusetCpus, opts.cpusetMems, opts.blkioWeight
	if fl.Changed("pids-limit") {
		p := opts.pidsLimit
		r.PidsLimit = &p
	}
	update := client.ContainerUpdateOptions{Resources: &r}
	if opts.restart != "" {
		name, count, _ := strings.Cut(opts.restart, ":")
		policy := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
		if count != "" {
			n, err := strconv.Atoi(count)
			if err != nil {
				return fmt.Errorf("invalid restart policy format: maximum retry count must be an integer")
			}
			policy.MaximumRetryCount = n
		}
		update.RestartPolicy = &policy
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var warnings []string
	errs := forEachParallel(ctx, containers, func(ctx context.Context, name string) error {
		res, err := api.ContainerUpdate(ctx, name, update)
		mu.Lock()
		warnings = append(warnings, res.Warnings...)
		mu.Unlock()
		return err
	})
	for _, w := range warnings {
		fmt.Fprintln(c.Err, w)
	}
	return reportEach(c.Out, containers, errs)
}
