package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type pullOptions struct {
	platform string
	quiet    bool
}

func newPullCommand(c *Cli) *cobra.Command {
	var opts pullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), c, args[0], opts)
		},
	}
	cmd.Flags().StringVar(&opts.platform, "platform", "", "Set platform if server is multi-platform capable")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// runPull pulls name, as `docker pull`: progress, then the reference.
func runPull(ctx context.Context, c *Cli, name string, opts pullOptions) error {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return err
	}
	if reference.IsNameOnly(ref) {
		ref = reference.TagNameOnly(ref)
		if !opts.quiet {
			fmt.Fprintln(c.Out, "Using default tag: latest")
		}
	}
	out := c.Out
	if opts.quiet {
		out = io.Discard
	}
	if err := c.pullTo(ctx, reference.FamiliarString(ref), opts.platform, out); err != nil {
		return err
	}
	fmt.Fprintln(c.Out, ref.String())
	return nil
}

// pullTo pulls image with the credentials stored for its registry,
// rendering the progress on out.
func (c *Cli) pullTo(ctx context.Context, image, platform string, out io.Writer) error {
	auth, err := registryAuth(image)
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	opts := client.ImagePullOptions{RegistryAuth: auth}
	if platform != "" {
		p, err := parsePlatform(platform)
		if err != nil {
			return err
		}
		opts.Platforms = []ocispec.Platform{p}
	}
	resp, err := api.ImagePull(ctx, image, opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	return displayJSONStream(resp, out)
}

// parsePlatform reads "os[/arch[/variant]]".
func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: want os[/arch[/variant]]", s)
	}
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}
