package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type pushOptions struct {
	allTags bool
	quiet   bool
}

func newPushCommand(c *Cli) *cobra.Command {
	var opts pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd.Context(), c, args[0], opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.allTags, "all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// runPush pushes name (its "latest" unless it has a tag, every tag with
// --all-tags), as `docker push`.
func runPush(ctx context.Context, c *Cli, name string, opts pushOptions) error {
	auth, err := registryAuth(name)
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	resp, err := api.ImagePush(ctx, name, client.ImagePushOptions{All: opts.allTags, RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer resp.Close()
	out := c.Out
	if opts.quiet {
		out = io.Discard
	}
	if err := displayJSONStream(resp, out); err != nil {
		return err
	}
	if opts.quiet {
		fmt.Fprintln(c.Out, name)
	}
	return nil
}
