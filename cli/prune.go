package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type pruneOptions struct {
	all    bool
	force  bool
	filter *filterFlag
}

func newContainerPruneCommand(c *Cli) *cobra.Command {
	opts := pruneOptions{filter: newFilterFlag()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.force && !confirm(c, "WARNING! This will remove all stopped containers.") {
				return statusError{code: 1, msg: "Error: container prune has been cancelled"}
			}
			space, err := pruneContainers(cmd.Context(), c, opts.filter.filters())
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(space)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(opts.filter, "filter", "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

func pruneContainers(ctx context.Context, c *Cli, f client.Filters) (uint64, error) {
	api, err := c.Client()
	if err != nil {
		return 0, err
	}
	res, err := api.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	if len(res.Report.ContainersDeleted) > 0 {
		fmt.Fprintf(c.Out, "Deleted Containers:\n%s\n\n", strings.Join(res.Report.ContainersDeleted, "\n"))
	}
	return res.Report.SpaceReclaimed, nil
}

func newImagePruneCommand(c *Cli) *cobra.Command {
	opts := pruneOptions{filter: newFilterFlag()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			warning := "WARNING! This will remove all dangling images."
			if opts.all {
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !opts.force && !confirm(c, warning) {
				return statusError{code: 1, msg: "Error: image prune has been cancelled"}
			}
			space, err := pruneImages(cmd.Context(), c, opts.all, opts.filter.filters())
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(space)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&opts.all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(opts.filter, "filter", "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

func pruneImages(ctx context.Context, c *Cli, all bool, f client.Filters) (uint64, error) {
	api, err := c.Client()
	if err != nil {
		return 0, err
	}
	f = f.Clone().Add("dangling", fmt.Sprint(!all))
	res, err := api.ImagePrune(ctx, client.ImagePruneOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	if len(res.Report.ImagesDeleted) > 0 {
		fmt.Fprintln(c.Out, "Deleted Images:")
		for _, d := range res.Report.ImagesDeleted {
			if d.Untagged != "" {
				fmt.Fprintln(c.Out, "untagged:", d.Untagged)
			} else {
				fmt.Fprintln(c.Out, "deleted:", d.Deleted)
			}
		}
		fmt.Fprintln(c.Out)
	}
	return res.Report.SpaceReclaimed, nil
}

func newBuilderCommand(c *Cli) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage builds", Args: noArgs, RunE: showHelp}
	opts := pruneOptions{filter: newFilterFlag()}
	var keep bytesFlag
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove build cache",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			warning := "WARNING! This will remove all dangling build cache."
			if opts.all {
				warning = "WARNING! This will remove all build cache."
			}
			if !opts.force && !confirm(c, warning) {
				return statusError{code: 1, msg: "Error: builder prune has been cancelled"}
			}
			space, err := pruneBuildCache(cmd.Context(), c, client.BuildCachePruneOptions{All: opts.all, Filters: opts.filter.filters(), ReservedSpace: int64(keep)})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(space)))
			return nil
		},
	}
	prune.Flags().BoolVarP(&opts.all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	prune.Flags().BoolVarP(&opts.force, "force", "f", false, "Do not prompt for confirmation")
	prune.Flags().Var(opts.filter, "filter", "Provide filter values (e.g. \"until=24h\")")
	prune.Flags().Var(&keep, "keep-storage", "Amount of disk space to keep for cache")
	cmd.AddCommand(prune)
	return cmd
}

func pruneBuildCache(ctx context.Context, c *Cli, opts client.BuildCachePruneOptions) (uint64, error) {
	api, err := c.Client()
	if err != nil {
		return 0, err
	}
	res, err := api.BuildCachePrune(ctx, opts)
	if err != nil {
		return 0, err
	}
	if len(res.Report.CachesDeleted) > 0 {
		fmt.Fprintf(c.Out, "Deleted build cache objects:\n%s\n\n", strings.Join(res.Report.CachesDeleted, "\n"))
	}
	return res.Report.SpaceReclaimed, nil
}

// bytesFlag is a size flag as docker's opts.MemBytes: "1g", "512m", bytes.
type bytesFlag int64

func (b *bytesFlag) Set(s string) error {
	n, err := units.RAMInBytes(s)
	if err != nil {
		return err
	}
	*b = bytesFlag(n)
	return nil
}

func (b *bytesFlag) String() string {
	if *b == 0 {
		return ""
	}
	return units.BytesSize(float64(*b))
}

func (b *bytesFlag) Type() string { return "bytes" }
