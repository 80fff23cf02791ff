package cli

import (
	"context"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type imagesOptions struct {
	ref     string
	all     bool
	quiet   bool
	noTrunc bool
	digests bool
	format  string
	filter  *filterFlag
}

// newImagesCommand is `images`, or `image <name>` when name is set.
func newImagesCommand(c *Cli, name string) *cobra.Command {
	var opts imagesOptions
	opts.filter = newFilterFlag()
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.ref = args[0]
			}
			return runImages(cmd.Context(), c, opts)
		},
	}
	if name != "" {
		cmd.Use = name + " [OPTIONS] [REPOSITORY[:TAG]]"
		cmd.Aliases = []string{"images", "list"}
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.all, "all", "a", false, "Show all images (default hides intermediate images)")
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show image IDs")
	fl.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	fl.BoolVar(&opts.digests, "digests", false, "Show digests")
	fl.StringVar(&opts.format, "format", "", "Format output using a custom template")
	fl.VarP(opts.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func runImages(ctx context.Context, c *Cli, opts imagesOptions) error {
	filters := opts.filter.filters()
	if opts.ref != "" {
		filters.Add("reference", opts.ref)
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ImageList(ctx, client.ImageListOptions{All: opts.all, Filters: filters})
	if err != nil {
		return err
	}
	format := opts.format
	switch {
	case opts.quiet:
		format = idFormat
	case format == "" && opts.digests:
		format = imagesDigestFormat
	case format == "":
		format = imagesDefaultFormat
	}
	f, err := parseListFormat(format, imagesHeaders)
	if err != nil {
		return err
	}
	rows := imageRows(res.Items, !opts.noTrunc, opts.digests || f.uses("Digest"), time.Now())
	if opts.quiet {
		rows = uniqueIDs(rows)
	}
	return f.write(c.Out, rows)
}

// uniqueIDs keeps the first row of each image: -q lists an image once.
func uniqueIDs(rows []any) []any {
	seen := map[string]bool{}
	var out []any
	for _, r := range rows {
		id := r.(imageRow).i.ID
		if !seen[id] {
			seen[id] = true
			out = append(out, r)
		}
	}
	return out
}
