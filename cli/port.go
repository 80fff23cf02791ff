package cli

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newPortCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPort(cmd.Context(), c, args)
		},
	}
}

// runPort prints "80/tcp -> 0.0.0.0:8080" per binding, or only the host
// addresses of one port, as docker port does.
func runPort(ctx context.Context, c *Cli, args []string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	var ports network.PortMap
	if ns := res.Container.NetworkSettings; ns != nil {
		ports = ns.Ports
	}
	if len(args) == 2 {
		p, err := network.ParsePort(args[1])
		if err != nil {
			return fmt.Errorf("Error: invalid port (%s): %w", args[1], err)
		}
		bindings := ports[p]
		if len(bindings) == 0 {
			return fmt.Errorf("Error: No public port '%s' published for %s", p, args[0])
		}
		for _, b := range bindings {
			fmt.Fprintln(c.Out, hostAddr(b))
		}
		return nil
	}
	var lines []string
	for p, bindings := range ports {
		for _, b := range bindings {
			lines = append(lines, fmt.Sprintf("%s -> %s", p, hostAddr(b)))
		}
	}
	slices.SortFunc(lines, comparePortLines)
	for _, l := range lines {
		fmt.Fprintln(c.Out, l)
	}
	return nil
}

func hostAddr(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}

// comparePortLines orders "80/tcp -> ..." lines by port number.
func comparePortLines(a, b string) int {
	num := func(s string) int {
		n, _ := strconv.Atoi(s[:strings.IndexAny(s+"/", "/")])
		return n
	}
	if d := num(a) - num(b); d != 0 {
		return d
	}
	return strings.Compare(a, b)
}
