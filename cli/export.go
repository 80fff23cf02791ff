package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newExportCommand(c *Cli) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd.Context(), c, args[0], output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// runExport writes the container's filesystem tar to output, or to stdout
// unless that is a terminal.
func runExport(ctx context.Context, c *Cli, ctr, output string) error {
	if _, tty := terminalFd(c.Out); output == "" && tty {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	if err := validateOutputPath(output); err != nil {
		return fmt.Errorf("failed to export container: %w", err)
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	tar, err := api.ContainerExport(ctx, ctr, client.ContainerExportOptions{})
	if err != nil {
		return err
	}
	defer tar.Close()
	if output == "" {
		_, err := io.Copy(c.Out, tar)
		return err
	}
	return writeFileAtomic(output, tar)
}

// writeFileAtomic writes r to a temporary file beside path and renames it
// into place, so that a failed export or save leaves no partial file.
func writeFileAtomic(path string, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".gantry_temp_")
	if err != nil {
		return fmt.Errorf("failed to create a temporary file: %w", err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("failed to save to %s: %w", path, err)
	}
	return nil
}
