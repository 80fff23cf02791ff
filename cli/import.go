package cli

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type importOptions struct {
	source  string
	ref     string
	changes []string
	message string
}

func newImportCommand(c *Cli) *cobra.Command {
	var opts importOptions
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 2 {
				return argsError(cmd, "requires at least 1 and at most 2 arguments", "Run")
			}
			opts.source = args[0]
			if len(args) == 2 {
				opts.ref = args[1]
			}
			return runImport(cmd.Context(), c, opts)
		},
	}
	cmd.Flags().StringArrayVarP(&opts.changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&opts.message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

// runImport streams a tarball (a file, or stdin for "-") or names a URL for
// the daemon to fetch, and prints the daemon's progress (the new image ID).
func runImport(ctx context.Context, c *Cli, opts importOptions) error {
	src := client.ImageImportSource{SourceName: opts.source}
	switch {
	case opts.source == "-":
		src.Source = c.In
	case strings.Contains(opts.source, "://"):
	default:
		f, err := os.Open(opts.source)
		if err != nil {
			return err // *fs.PathError already names the file, as docker prints it
		}
		defer f.Close()
		src = client.ImageImportSource{SourceName: "-", Source: f}
	}
	if src.Source != nil {
		// Hide the concrete type so the upload is chunked like docker's.
		src.Source = struct{ io.Reader }{src.Source}
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ImageImport(ctx, src, opts.ref, client.ImageImportOptions{Message: opts.message, Changes: opts.changes})
	if err != nil {
		return err
	}
	defer res.Close()
	return displayJSONStream(res, c.Out)
}
