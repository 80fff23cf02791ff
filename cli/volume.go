package cli

import (
	"context"
	"fmt"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const volumesDefaultFormat = "table {{.Driver}}\t{{.Name}}"

// volumesHeaders are the column titles of `volume ls` tables, by template field.
var volumesHeaders = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "CreatedAt": "CREATED AT",
}

// newVolumeCommand is `volume` and its verbs.
func newVolumeCommand(c *Cli) *cobra.Command {
	cmd := &cobra.Command{Use: "volume COMMAND", Short: "Manage volumes", Args: noArgs, RunE: showHelp}
	cmd.AddCommand(newVolumeCreateCommand(c), newVolumeLsCommand(c), newVolumeInspectCommand(c),
		newVolumeRmCommand(c), newVolumePruneCommand(c))
	return cmd
}

func newVolumeCreateCommand(c *Cli) *cobra.Command {
	var opts client.VolumeCreateOptions
	var labels, driverOpts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.Name != "" {
					return statusError{code: 1, msg: "conflicting options: cannot specify a volume-name through both --name and as a positional arg"}
				}
				opts.Name = args[0]
			}
			opts.Labels, opts.DriverOpts = keyValues(labels), keyValues(driverOpts)
			return runVolumeCreate(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Driver, "driver", "d", "local", "Specify volume driver name")
	fl.StringVar(&opts.Name, "name", "", "Specify volume name")
	fl.MarkHidden("name")
	fl.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	fl.StringArrayVarP(&driverOpts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

// keyValues turns KEY=VALUE flags into a map; a bare KEY has an empty value.
func keyValues(list []string) map[string]string {
	if len(list) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

func runVolumeCreate(ctx context.Context, c *Cli, opts client.VolumeCreateOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.VolumeCreate(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, res.Volume.Name)
	return nil
}

type volumeLsOptions struct {
	quiet  bool
	format string
	filter *filterFlag
}

func newVolumeLsCommand(c *Cli) *cobra.Command {
	opts := volumeLsOptions{filter: newFilterFlag()}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeLs(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "Only display volume names")
	fl.StringVar(&opts.format, "format", "", "Format output using a custom template")
	fl.VarP(opts.filter, "filter", "f", "Provide filter values (e.g. \"dangling=true\")")
	return cmd
}

func runVolumeLs(ctx context.Context, c *Cli, opts volumeLsOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: opts.filter.filters()})
	if err != nil {
		return err
	}
	format := opts.format
	switch {
	case opts.quiet:
		format = "{{.Name}}"
	case format == "":
		format = volumesDefaultFormat
	}
	f, err := parseListFormat(format, volumesHeaders)
	if err != nil {
		return err
	}
	rows := make([]any, len(res.Items))
	for i, v := range res.Items {
		rows[i] = volumeRow{v}
	}
	return f.write(c.Out, rows)
}

// volumeRow is what `volume ls --format` templates see.
type volumeRow struct{ v volume.Volume }

// Name is the volume's name.
func (r volumeRow) Name() string { return r.v.Name }

// Driver is the volume's driver.
func (r volumeRow) Driver() string { return r.v.Driver }

// Scope is "local".
func (r volumeRow) Scope() string { return r.v.Scope }

// Mountpoint is the host directory of the volume's data.
func (r volumeRow) Mountpoint() string { return r.v.Mountpoint }

// CreatedAt is the creation time as the daemon reported it.
func (r volumeRow) CreatedAt() string { return r.v.CreatedAt }

// Labels lists the labels as key=value, comma-separated.
func (r volumeRow) Labels() string {
	pairs := make([]string, 0, len(r.v.Labels))
	for k, v := range r.v.Labels {
		pairs = append(pairs, k+"="+v)
	}
	return strings.Join(pairs, ",")
}

// Label is the value of one label.
func (r volumeRow) Label(name string) string { return r.v.Labels[name] }

// MarshalJSON is the row for {{json .}} and --format json, as docker's.
func (r volumeRow) MarshalJSON() ([]byte, error) { return marshalRow(r) }

func newVolumeInspectCommand(c *Cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			return inspectAll(cmd.Context(), c.Out, args, format, func(ctx context.Context, ref string) (any, []byte, error) {
				res, err := api.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
				return res.Volume, res.Raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newVolumeRmCommand(c *Cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			errs := make([]error, len(args))
			for i, name := range args {
				_, errs[i] = api.VolumeRemove(cmd.Context(), name, client.VolumeRemoveOptions{Force: force})
			}
			return reportEach(c.Out, args, errs)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

type volumePruneOptions struct {
	all    bool
	force  bool
	filter *filterFlag
}

func newVolumePruneCommand(c *Cli) *cobra.Command {
	opts := volumePruneOptions{filter: newFilterFlag()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumePrune(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	fl.BoolVarP(&opts.force, "force", "f", false, "Do not prompt for confirmation")
	fl.Var(opts.filter, "filter", "Provide filter values (e.g. \"label=<label>\")")
	return cmd
}

func runVolumePrune(ctx context.Context, c *Cli, opts volumePruneOptions) error {
	warning := "WARNING! This will remove anonymous local volumes not used by at least one container."
	if opts.all {
		warning = "WARNING! This will remove all local volumes not used by at least one container."
	}
	if !opts.force && !confirm(c, warning) {
		return statusError{code: 1, msg: "Error: volume prune has been cancelled"}
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.VolumePrune(ctx, client.VolumePruneOptions{All: opts.all, Filters: opts.filter.filters()})
	if err != nil {
		return err
	}
	if deleted := res.Report.VolumesDeleted; len(deleted) > 0 {
		fmt.Fprintf(c.Out, "Deleted Volumes:\n%s\n\n", strings.Join(deleted, "\n"))
	}
	fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
	return nil
}
