package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type rmiOptions struct {
	images  []string
	force   bool
	noPrune bool
}

// newRmiCommand is `rmi`, or `image <name>` when name is set.
func newRmiCommand(c *Cli, name string) *cobra.Command {
	var opts rmiOptions
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.images = args
			return runRmi(cmd.Context(), c, opts)
		},
	}
	if name != "" {
		cmd.Use = name + " [OPTIONS] IMAGE [IMAGE...]"
		cmd.Aliases = []string{"rmi", "remove"}
	}
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&opts.noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

// runRmi removes the images one after the other, printing what each removal
// untagged and deleted; the errors are reported together at the end.
func runRmi(ctx context.Context, c *Cli, opts rmiOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, img := range opts.images {
		res, err := api.ImageRemove(ctx, img, client.ImageRemoveOptions{Force: opts.force, PruneChildren: !opts.noPrune})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range res.Items {
			if d.Deleted != "" {
				fmt.Fprintln(c.Out, "Deleted:", d.Deleted)
			} else {
				fmt.Fprintln(c.Out, "Untagged:", d.Untagged)
			}
		}
	}
	return errors.Join(errs...)
}
