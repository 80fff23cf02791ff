package cli

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type loadOptions struct {
	input string
	quiet bool
}

func newLoadCommand(c *Cli) *cobra.Command {
	var opts loadOptions
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoad(cmd.Context(), c, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

// runLoad streams an archive (-i FILE, else stdin, which must not be a
// terminal) to the daemon and prints its messages; progress bars only when
// stdout is a terminal, as docker asks for them only then.
func runLoad(ctx context.Context, c *Cli, opts loadOptions) error {
	var input io.Reader = c.In
	if opts.input != "" {
		f, err := os.Open(opts.input)
		if err != nil {
			return err // *fs.PathError already names the file, as docker prints it
		}
		defer f.Close()
		input = f
	} else if _, isTerm := terminalFd(c.In); isTerm {
		return errors.New("requested load from stdin, but stdin is empty")
	}
	if _, isTerm := terminalFd(c.Out); !isTerm {
		opts.quiet = true
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	// Hide the concrete type so the upload is chunked like docker's.
	res, err := api.ImageLoad(ctx, struct{ io.Reader }{input}, client.ImageLoadWithQuiet(opts.quiet))
	if err != nil {
		return err
	}
	defer res.Close()
	return displayJSONStream(res, c.Out)
}
