package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/docker/go-units"
	"github.com/moby/go-archive"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type cpOptions struct {
	followLink bool
	copyUIDGID bool
	quiet      bool
}

func newCpCommand(c *Cli) *cobra.Command {
	var opts cpOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\t" + progName + " cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Long: "Copy files/folders between a container and the local filesystem\n\n" +
			"Use '-' as the source to read a tar archive from stdin\n" +
			"and extract it to a directory destination in a container.\n" +
			"Use '-' as the destination to stream a tar archive of a\n" +
			"container source to stdout.",
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("source can not be empty")
			}
			if args[1] == "" {
				return errors.New("destination can not be empty")
			}
			if !cmd.Flags().Changed("quiet") {
				_, tty := terminalFd(c.Out)
				opts.quiet = !tty
			}
			return runCp(cmd.Context(), c, args[0], args[1], opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	fl.BoolVarP(&opts.copyUIDGID, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

// runCp copies in the direction the arguments name, as docker cp does.
func runCp(ctx context.Context, c *Cli, src, dst string, opts cpOptions) error {
	srcCtr, srcPath := splitCpArg(src)
	dstCtr, dstPath := splitCpArg(dst)
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr != "":
		return copyFromContainer(ctx, c, srcCtr, srcPath, dstPath, opts)
	case dstCtr != "":
		return copyToContainer(ctx, c, srcPath, dstCtr, dstPath, opts)
	}
	return errors.New("must specify at least one container source")
}

// splitCpArg splits CONTAINER:PATH. A local path holding ":" must be made
// explicit as an absolute path or one starting with ".", as with scp.
func splitCpArg(arg string) (ctr, path string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, path, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, path
}

// resolveLocalPath makes p absolute, keeping a trailing "/" or "/.",
// which says what to copy.
func resolveLocalPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return archive.PreserveTrailingDotOrSeparator(abs, p), nil
}

func copyFromContainer(ctx context.Context, c *Cli, ctr, srcPath, dstPath string, opts cpOptions) error {
	if dstPath != "-" {
		var err error
		if dstPath, err = resolveLocalPath(dstPath); err != nil {
			return err
		}
	}
	if err := validateOutputPath(dstPath); err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	// -L: copy what a symlink points to, under the symlink's name.
	var rebaseName string
	if opts.followLink {
		st, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: srcPath})
		if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
			target := st.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				parent, _ := archive.SplitPathDirEntry(srcPath)
				target = filepath.Join(parent, target)
			}
			srcPath, rebaseName = archive.GetRebaseName(srcPath, target)
		}
	}
	res, err := api.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: srcPath})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dstPath == "-" {
		_, err := io.Copy(c.Out, res.Content)
		return err
	}
	srcInfo := archive.CopyInfo{Path: srcPath, Exists: true, IsDir: res.Stat.Mode.IsDir(), RebaseName: rebaseName}
	counted := &countingReader{r: res.Content}
	var content io.Reader = counted
	if rebaseName != "" {
		_, srcBase := archive.SplitPathDirEntry(srcPath)
		content = archive.RebaseArchiveEntries(content, srcBase, rebaseName)
	}
	err = archive.CopyTo(content, srcInfo, dstPath)
	c.copied(opts, counted, dstPath)
	return err
}

// copyToContainer stats the destination first: whether it exists and is
// a directory decides how the archive is named (archive.PrepareArchiveCopy).
func copyToContainer(ctx context.Context, c *Cli, srcPath, ctr, dstPath string, opts cpOptions) error {
	if srcPath != "-" {
		var err error
		if srcPath, err = resolveLocalPath(srcPath); err != nil {
			return err
		}
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	dstInfo := archive.CopyInfo{Path: dstPath}
	st, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dstPath})
	if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
		target := st.Stat.LinkTarget
		if !filepath.IsAbs(target) {
			parent, _ := archive.SplitPathDirEntry(dstPath)
			target = filepath.Join(parent, target)
		}
		dstInfo.Path = target
		st, err = api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: target})
	}
	if err := validateOutputPathFileMode(st.Stat.Mode); err != nil {
		return fmt.Errorf("destination \"%s:%s\" must be a directory or a regular file: %w", ctr, dstPath, err)
	}
	// A destination that cannot be stat'ed may still be a new name in an
	// existing directory; the extraction says otherwise.
	if err == nil {
		dstInfo.Exists, dstInfo.IsDir = true, st.Stat.Mode.IsDir()
	}

	var content io.Reader
	dstDir := dstInfo.Path
	counted := &countingReader{}
	if srcPath == "-" {
		if !dstInfo.IsDir {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", ctr, dstPath)
		}
		content = c.In
	} else {
		srcInfo, err := archive.CopyInfoSourcePath(srcPath, opts.followLink)
		if err != nil {
			return err
		}
		srcArchive, err := archive.TarResource(srcInfo)
		if err != nil {
			return err
		}
		defer srcArchive.Close()
		var prepared io.ReadCloser
		dstDir, prepared, err = archive.PrepareArchiveCopy(srcArchive, srcInfo, dstInfo)
		if err != nil {
			return err
		}
		defer prepared.Close()
		counted.r = prepared
		content = counted
	}
	_, err = api.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{DestinationPath: dstDir, Content: content, CopyUIDGID: opts.copyUIDGID})
	if srcPath != "-" {
		c.copied(opts, counted, ctr+":"+dstInfo.Path)
	}
	return err
}

// copied prints docker's closing line on stderr unless quiet.
func (c *Cli) copied(opts cpOptions, r *countingReader, dst string) {
	if !opts.quiet {
		fmt.Fprintln(c.Err, "Successfully copied", units.HumanSizeWithPrecision(float64(r.n.Load()), 3), "to", dst)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(int64(n))
	return n, err
}

// validateOutputPath checks a local destination as docker does: its
// directory must exist, and it must be a directory or a regular file if
// it exists.
func validateOutputPath(p string) error {
	if p == "-" || p == "" {
		return nil
	}
	if dir := filepath.Dir(filepath.Clean(p)); dir != "" && dir != "." {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return fmt.Errorf("invalid output path: directory %q does not exist", dir)
		}
	}
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := validateOutputPathFileMode(fi.Mode()); err != nil {
		return fmt.Errorf("invalid output path: %q must be a directory or a regular file: %w", p, err)
	}
	return nil
}

func validateOutputPathFileMode(m os.FileMode) error {
	switch {
	case m&os.ModeDevice != 0:
		return errors.New("got a device")
	case m&os.ModeIrregular != 0:
		return errors.New("got an irregular file")
	}
	return nil
}
