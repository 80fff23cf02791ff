package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type killOptions struct {
	containers []string
	signal     string
}

func newKillCommand(c *Cli) *cobra.Command {
	var opts killOptions
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.containers = args
			return runKill(cmd.Context(), c, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

// runKill signals the containers in parallel, printing each name as typed.
func runKill(ctx context.Context, c *Cli, opts killOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	errs := forEachParallel(ctx, opts.containers, func(ctx context.Context, name string) error {
		_, err := api.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: opts.signal})
		return err
	})
	return reportEach(c.Out, opts.containers, errs)
}
