package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newWaitCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWait(cmd.Context(), c, args)
		},
	}
}

// runWait waits for each container in turn and prints its exit code.
func runWait(ctx context.Context, c *Cli, containers []string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range containers {
		res := api.ContainerWait(ctx, name, client.ContainerWaitOptions{})
		select {
		case r := <-res.Result:
			fmt.Fprintf(c.Out, "%d\n", r.StatusCode)
		case err := <-res.Error:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
