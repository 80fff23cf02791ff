package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newTagCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTag(cmd.Context(), c, args[0], args[1])
		},
	}
}

func runTag(ctx context.Context, c *Cli, source, target string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	_, err = api.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target})
	return err
}
