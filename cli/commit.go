package cli

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type commitOptions struct {
	container string
	ref       string
	pause     bool
	comment   string
	author    string
	changes   []string
}

func newCommitCommand(c *Cli) *cobra.Command {
	var opts commitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.container = args[0]
			if len(args) > 1 {
				opts.ref = args[1]
			}
			return runCommit(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&opts.pause, "pause", "p", true, "Pause container during commit")
	fl.StringVarP(&opts.comment, "message", "m", "", "Commit message")
	fl.StringVarP(&opts.author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fl.StringArrayVarP(&opts.changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	return cmd
}

// runCommit makes an image of the container and prints its ID.
func runCommit(ctx context.Context, c *Cli, opts commitOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerCommit(ctx, opts.container, client.ContainerCommitOptions{
		Reference: opts.ref, Comment: opts.comment, Author: opts.author,
		Changes: opts.changes, NoPause: !opts.pause,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, res.ID)
	return nil
}
