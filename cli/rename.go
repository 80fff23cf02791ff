package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newRenameCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRename(cmd.Context(), c, args[0], args[1])
		},
	}
}

func runRename(ctx context.Context, c *Cli, old, name string) error {
	old, name = strings.TrimSpace(old), strings.TrimSpace(name)
	if old == "" || name == "" {
		return errors.New("Error: Neither old nor new names may be empty")
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	if _, err := api.ContainerRename(ctx, old, client.ContainerRenameOptions{NewName: name}); err != nil {
		fmt.Fprintln(c.Err, err)
		// docker's wording, kept for compatibility.
		return fmt.Errorf("Error: failed to rename container named %s", old)
	}
	return nil
}
