package cli

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newDiffCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), c, args[0])
		},
	}
}

// runDiff prints one "A|C|D path" line per change, as docker diff.
func runDiff(ctx context.Context, c *Cli, name string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerDiff(ctx, name, client.ContainerDiffOptions{})
	if err != nil {
		return err
	}
	for _, ch := range res.Changes {
		kind := "C"
		switch ch.Kind {
		case container.ChangeAdd:
			kind = "A"
		case container.ChangeDelete:
			kind = "D"
		}
		fmt.Fprintln(c.Out, kind, ch.Path)
	}
	return nil
}
