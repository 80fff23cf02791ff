package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newRestartCommand(c *Cli) *cobra.Command {
	var opts stopOptions
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.containers = args
			opts.timeoutSet = cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time")
			return runRestart(cmd.Context(), c, opts)
		},
	}
	addStopFlags(cmd, &opts)
	return cmd
}

// runRestart restarts the containers one after the other, as docker does.
func runRestart(ctx context.Context, c *Cli, opts stopOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range opts.containers {
		_, err := api.ContainerRestart(ctx, name, client.ContainerRestartOptions{Signal: opts.signal, Timeout: opts.timeoutPtr()})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(c.Out, name)
	}
	return errors.Join(errs...)
}
