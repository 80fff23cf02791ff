package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type rmOptions struct {
	containers []string
	force      bool
	volumes    bool
}

// newRmCommand is `rm`, or `container <name>` when name is set.
func newRmCommand(c *Cli, name string) *cobra.Command {
	var opts rmOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.containers = args
			return runRm(cmd.Context(), c, opts)
		},
	}
	if name != "" {
		cmd.Use = name + " [OPTIONS] CONTAINER [CONTAINER...]"
		cmd.Aliases = []string{"rm", "remove"}
	}
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&opts.volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

// runRm removes the containers in parallel. With -f a missing container is
// only reported on stderr and does not fail the command.
func runRm(ctx context.Context, c *Cli, opts rmOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	errs := forEachParallel(ctx, opts.containers, func(ctx context.Context, name string) error {
		name = strings.Trim(name, "/")
		if name == "" {
			return errors.New("container name cannot be empty")
		}
		_, err := api.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: opts.force, RemoveVolumes: opts.volumes})
		return err
	})
	for i, err := range errs {
		if opts.force && cerrdefs.IsNotFound(err) {
			fmt.Fprintln(c.Err, err)
			errs[i] = errSkipped
		}
	}
	return reportEach(c.Out, opts.containers, errs)
}
