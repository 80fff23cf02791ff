package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newTopCommand(c *Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTop(cmd.Context(), c, args[0], args[1:])
		},
	}
	cmd.Flags().SetInterspersed(false) // what follows the container is for ps
	return cmd
}

// runTop prints the container's processes as the daemon's ps listed them,
// in docker's table layout.
func runTop(ctx context.Context, c *Cli, container string, psArgs []string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	top, err := api.ContainerTop(ctx, container, client.ContainerTopOptions{Arguments: psArgs})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.Out, 20, 1, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
	for _, p := range top.Processes {
		fmt.Fprintln(tw, strings.Join(p, "\t"))
	}
	return tw.Flush()
}
