package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

type saveOptions struct {
	output string
	images []string
}

func newSaveCommand(c *Cli) *cobra.Command {
	var opts saveOptions
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.images = args
			return runSave(cmd.Context(), c, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// runSave streams the daemon's archive of the images to stdout (never a
// terminal) or, through a temporary file renamed into place, to -o FILE.
func runSave(ctx context.Context, c *Cli, opts saveOptions) error {
	if opts.output == "" {
		if _, isTerm := terminalFd(c.Out); isTerm {
			return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
	} else if err := validateSaveOutput(opts.output); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ImageSave(ctx, opts.images)
	if err != nil {
		return err
	}
	defer res.Close()
	if opts.output == "" {
		_, err := io.Copy(c.Out, res)
		return err
	}
	return writeFileAtomic(opts.output, res)
}

// validateSaveOutput checks, before asking the daemon, that the file can be
// made where the user wants it.
func validateSaveOutput(path string) error {
	dir := filepath.Dir(filepath.Clean(path))
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("invalid output path: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("invalid output path: %s is not a directory", dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("invalid output path: %s is a directory", path)
	}
	return nil
}
