package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newPauseCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPause(cmd.Context(), c, args, true)
		},
	}
}

func newUnpauseCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPause(cmd.Context(), c, args, false)
		},
	}
}

// runPause pauses (or unpauses) the containers in parallel, printing each
// name as typed.
func runPause(ctx context.Context, c *Cli, containers []string, pause bool) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	errs := forEachParallel(ctx, containers, func(ctx context.Context, name string) error {
		if pause {
			_, err := api.ContainerPause(ctx, name, client.ContainerPauseOptions{})
			return err
		}
		_, err := api.ContainerUnpause(ctx, name, client.ContainerUnpauseOptions{})
		return err
	})
	return reportEach(c.Out, containers, errs)
}
