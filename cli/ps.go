package cli

import (
	"context"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type psOptions struct {
	all     bool
	quiet   bool
	size    bool
	last    int
	latest  bool
	noTrunc bool
	format  string
	filter  *filterFlag
}

// newPsCommand is `ps`, or `container <name>` when name is set.
func newPsCommand(c *Cli, name string) *cobra.Command {
	var opts psOptions
	opts.filter = newFilterFlag()
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.Context(), c, opts)
		},
	}
	if name != "" {
		cmd.Use = name + " [OPTIONS]"
		cmd.Aliases = []string{"ps", "list"}
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.all, "all", "a", false, "Show all containers (default shows just running)")
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "Only display container IDs")
	fl.BoolVarP(&opts.size, "size", "s", false, "Display total file sizes")
	fl.IntVarP(&opts.last, "last", "n", -1, "Show n last created containers (includes all states)")
	fl.BoolVarP(&opts.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	fl.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	fl.StringVar(&opts.format, "format", "", "Format output using a custom template")
	fl.VarP(opts.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

// psFormat picks the template: -q wins, then --format, then the default
// table (with a SIZE column for -s).
func psFormat(opts psOptions) string {
	switch {
	case opts.quiet:
		return psQuietFormat
	case opts.format != "":
		return opts.format
	case opts.size:
		return psSizeFormat
	}
	return psDefaultFormat
}

func runPs(ctx context.Context, c *Cli, opts psOptions) error {
	filters := opts.filter.filters()
	f, err := parseListFormat(psFormat(opts), psHeaders)
	if err != nil {
		return err
	}
	list := client.ContainerListOptions{All: opts.all, Limit: opts.last, Filters: filters}
	if opts.latest && opts.last == -1 {
		list.Limit = 1
	}
	list.Size = !opts.quiet && (opts.size || f.uses("Size"))
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerList(ctx, list)
	if err != nil {
		return err
	}
	now := time.Now()
	rows := make([]any, 0, len(res.Items))
	for _, ctr := range res.Items {
		rows = append(rows, containerRow{c: ctr, trunc: !opts.noTrunc, now: now})
	}
	return f.write(c.Out, rows)
}
