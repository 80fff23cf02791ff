package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newInfoCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInfo(cmd.Context(), c)
		},
	}
}

// runInfo prints the client section and a subset of docker's server section,
// then the daemon's warnings on stderr.
func runInfo(ctx context.Context, c *Cli) error {
	fmt.Fprintln(c.Out, "Client:")
	kv(c.Out, 1, 12, "Version", Version)
	kv(c.Out, 1, 12, "Debug Mode", "false")
	fmt.Fprintln(c.Out)
	fmt.Fprintln(c.Out, "Server:")
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return err
	}
	writeServerInfo(c.Out, res.Info)
	fmt.Fprintln(c.Out)
	for _, w := range res.Info.Warnings {
		fmt.Fprintln(c.Err, w)
	}
	return nil
}

func writeServerInfo(w io.Writer, i system.Info) {
	itoa := strconv.Itoa
	fmt.Fprintln(w, " Containers:", i.Containers)
	fmt.Fprintln(w, "  Running:", i.ContainersRunning)
	fmt.Fprintln(w, "  Paused:", i.ContainersPaused)
	fmt.Fprintln(w, "  Stopped:", i.ContainersStopped)
	fmt.Fprintln(w, " Images:", itoa(i.Images))
	fmt.Fprintln(w, " Server Version:", i.ServerVersion)
	fmt.Fprintln(w, " Storage Driver:", i.Driver)
	for _, pair := range i.DriverStatus {
		fmt.Fprintf(w, "  %s: %s\n", pair[0], pair[1])
	}
	fmt.Fprintln(w, " Logging Driver:", i.LoggingDriver)
	fmt.Fprintln(w, " Cgroup Driver:", i.CgroupDriver)
	fmt.Fprintln(w, " Cgroup Version:", i.CgroupVersion)
	fmt.Fprintln(w, " Plugins:")
	fmt.Fprintln(w, "  Volume:", strings.Join(i.Plugins.Volume, " "))
	fmt.Fprintln(w, "  Network:", strings.Join(i.Plugins.Network, " "))
	if len(i.Plugins.Authorization) > 0 {
		fmt.Fprintln(w, "  Authorization:", strings.Join(i.Plugins.Authorization, " "))
	}
	fmt.Fprintln(w, "  Log:", strings.Join(i.Plugins.Log, " "))
	if len(i.Runtimes) > 0 {
		names := make([]string, 0, len(i.Runtimes))
		for n := range i.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprint(w, " Runtimes:")
		for _, n := range names {
			fmt.Fprint(w, " ", n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, " Default Runtime:", i.DefaultRuntime)
	fmt.Fprintln(w, " Kernel Version:", i.KernelVersion)
	fmt.Fprintln(w, " Operating System:", i.OperatingSystem)
	fmt.Fprintln(w, " OSType:", i.OSType)
	fmt.Fprintln(w, " Architecture:", i.Architecture)
	fmt.Fprintln(w, " CPUs:", i.NCPU)
	fmt.Fprintln(w, " Total Memory:", units.BytesSize(float64(i.MemTotal)))
	fmt.Fprintln(w, " Name:", i.Name)
	fmt.Fprintln(w, " ID:", i.ID)
	fmt.Fprintln(w, " Docker Root Dir:", i.DockerRootDir)
	fmt.Fprintln(w, " Debug Mode:", i.Debug)
	fmt.Fprintln(w, " Experimental:", i.ExperimentalBuild)
	fmt.Fprintln(w, " Live Restore Enabled:", i.LiveRestoreEnabled)
}
