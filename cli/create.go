package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type createOptions struct {
	flags         containerFlags
	image         string
	args          []string
	entrypointSet bool
}

func newCreateCommand(c *Cli) *cobra.Command {
	var opts createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.image, opts.args = args[0], args[1:]
			opts.entrypointSet = cmd.Flags().Changed("entrypoint")
			return runCreate(cmd.Context(), c, cmd, opts)
		},
	}
	addContainerFlags(cmd.Flags(), &opts.flags)
	return cmd
}

// runCreate creates the container, pulling its image when missing, and
// prints the new ID; daemon errors exit 1 (unlike run's 125).
func runCreate(ctx context.Context, c *Cli, cmd *cobra.Command, opts createOptions) error {
	cc, err := opts.flags.toConfig(opts.image, opts.args, true, opts.entrypointSet)
	if err != nil {
		return verbError(cmd, err, 125)
	}
	if len(opts.flags.more.attach) == 0 {
		cc.config.AttachStdin, cc.config.AttachStdout, cc.config.AttachStderr = opts.flags.interact, true, true
	}
	id, err := c.createContainer(ctx, cc, opts.flags.name)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, id)
	return nil
}

// createContainer creates a container and returns its ID. When the daemon
// answers 404 (image missing) it says so on stderr, pulls the image showing
// the progress on stderr (nothing with -q), and creates again. With
// --cidfile the ID is written to a file that must not exist yet, as
// docker does; a failed create leaves no file.
func (c *Cli) createContainer(ctx context.Context, cc containerConfig, name string) (id string, err error) {
	if cc.cidfile != "" {
		f, err := os.OpenFile(cc.cidfile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", cc.cidfile)
			}
			return "", fmt.Errorf("failed to create the container ID file: %w", err)
		}
		defer func() {
			if err == nil {
				_, err = f.WriteString(id)
			}
			if cerr := f.Close(); err == nil && cerr != nil {
				err = cerr
			}
			if err != nil {
				os.Remove(cc.cidfile)
			}
		}()
	}
	pullOut := c.Err
	if cc.quiet {
		pullOut = io.Discard
	}
	api, err := c.Client()
	if err != nil {
		return "", err
	}
	ref, err := reference.ParseNormalizedNamed(cc.config.Image)
	if err != nil {
		return "", err
	}
	tagged := reference.FamiliarString(reference.TagNameOnly(ref))
	if cc.pull == "always" {
		if err := c.pullTo(ctx, tagged, cc.platform, pullOut); err != nil {
			return "", err
		}
	}
	if cc.platform != "" {
		if err := c.checkPlatform(ctx, cc.config.Image, cc.platform); err != nil && (!cerrdefs.IsNotFound(err) || cc.pull == "never") {
			return "", err
		}
	}
	opts := client.ContainerCreateOptions{Config: cc.config, HostConfig: cc.host, NetworkingConfig: cc.network, Name: name}
	res, err := api.ContainerCreate(ctx, opts)
	if cerrdefs.IsNotFound(err) && cc.pull != "never" && cc.pull != "always" {
		fmt.Fprintf(pullOut, "Unable to find image '%s' locally\n", tagged)
		if err := c.pullTo(ctx, tagged, cc.platform, pullOut); err != nil {
			return "", err
		}
		if cc.platform != "" {
			if err := c.checkPlatform(ctx, cc.config.Image, cc.platform); err != nil {
				return "", err
			}
		}
		res, err = api.ContainerCreate(ctx, opts)
	}
	if err != nil {
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(c.Err, "WARNING:", w)
	}
	return res.ID, nil
}

// pull fetches image through the daemon, rendering progress on stderr.
func (c *Cli) pull(ctx context.Context, image string) error {
	return c.pullTo(ctx, image, "", c.Err)
}

// checkPlatform refuses an image that is not of the platform --platform
// names, with dockerd's words; an image that is not here is a not-found
// error.
func (c *Cli) checkPlatform(ctx context.Context, image, platform string) error {
	want, err := parsePlatform(platform)
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ImageInspect(ctx, image)
	if err != nil {
		return err
	}
	got := res.Os + "/" + res.Architecture
	if res.Variant != "" {
		got += "/" + res.Variant
	}
	if want.OS != res.Os || (want.Architecture != "" && want.Architecture != res.Architecture) || (want.Variant != "" && want.Variant != res.Variant) {
		wanted := want.OS + "/" + want.Architecture
		if want.Variant != "" {
			wanted += "/" + want.Variant
		}
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s", image, wanted, got))
	}
	return nil
}
