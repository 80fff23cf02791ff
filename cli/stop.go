package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type stopOptions struct {
	containers []string
	timeout    int
	timeoutSet bool
	signal     string
}

func newStopCommand(c *Cli) *cobra.Command {
	var opts stopOptions
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.containers = args
			opts.timeoutSet = cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time")
			return runStop(cmd.Context(), c, opts)
		},
	}
	addStopFlags(cmd, &opts)
	return cmd
}

func addStopFlags(cmd *cobra.Command, opts *stopOptions) {
	cmd.Flags().StringVarP(&opts.signal, "signal", "s", "", "Signal to send to the container")
	cmd.Flags().IntVarP(&opts.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().IntVar(&opts.timeout, "time", 0, "Seconds to wait before killing the container (deprecated: use --timeout)")
	cmd.Flags().MarkHidden("time")
}

// timeoutPtr is the -t value when given, else nil for the daemon's default.
func (o stopOptions) timeoutPtr() *int {
	if !o.timeoutSet {
		return nil
	}
	t := o.timeout
	return &t
}

// runStop stops the containers in parallel, printing each name as typed once
// it is stopped.
func runStop(ctx context.Context, c *Cli, opts stopOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	errs := forEachParallel(ctx, opts.containers, func(ctx context.Context, name string) error {
		_, err := api.ContainerStop(ctx, name, client.ContainerStopOptions{Signal: opts.signal, Timeout: opts.timeoutPtr()})
		return err
	})
	return reportEach(c.Out, opts.containers, errs)
}
