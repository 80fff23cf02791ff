package cli

import (
	"context"
	"maps"
	"time"

	"github.com/spf13/cobra"
)

type historyOptions struct {
	image   string
	human   bool
	quiet   bool
	noTrunc bool
	format  string
}

func newHistoryCommand(c *Cli) *cobra.Command {
	var opts historyOptions
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.image = args[0]
			return runHistory(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.human, "human", "H", true, "Print sizes and dates in human readable format")
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show image IDs")
	fl.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	fl.StringVar(&opts.format, "format", "", "Format output using a custom template")
	return cmd
}

func runHistory(ctx context.Context, c *Cli, opts historyOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ImageHistory(ctx, opts.image)
	if err != nil {
		return err
	}
	format := opts.format
	switch {
	case opts.quiet:
		format = idFormat
	case format == "":
		format = historyFormat
	}
	headers := historyHeaders
	if !opts.human {
		headers = maps.Clone(historyHeaders)
		headers["CreatedSince"] = historyHeaders["CreatedAt"]
	}
	f, err := parseListFormat(format, headers)
	if err != nil {
		return err
	}
	now := time.Now()
	rows := make([]any, 0, len(res.Items))
	for _, h := range res.Items {
		rows = append(rows, historyRow{h: h, trunc: !opts.noTrunc, human: opts.human, now: now})
	}
	return f.write(c.Out, rows)
}
