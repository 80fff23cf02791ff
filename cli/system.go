package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newSystemCommand(c *Cli) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage Docker", Args: noArgs, RunE: showHelp}
	var verbose bool
	var format string
	df := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show docker disk usage",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSystemDf(cmd.Context(), c, verbose, format)
		},
	}
	df.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	df.Flags().StringVar(&format, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	opts := pruneOptions{filter: newFilterFlag()}
	var volumes bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSystemPrune(cmd.Context(), c, opts, volumes)
		},
	}
	fl := prune.Flags()
	fl.BoolVarP(&opts.all, "all", "a", false, "Remove all unused images not just dangling ones")
	fl.BoolVarP(&opts.force, "force", "f", false, "Do not prompt for confirmation")
	fl.BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	fl.Var(opts.filter, "filter", "Provide filter values (e.g. \"label=<key>=<value>\")")
	cmd.AddCommand(df, prune, newInfoCommand(c), newEventsCommand(c))
	return cmd
}

// runSystemPrune prunes containers, networks, (with --volumes) anonymous
// volumes, images and the build cache, each with its own endpoint, as
// docker system prune does.
func runSystemPrune(ctx context.Context, c *Cli, opts pruneOptions, volumes bool) error {
	items := []string{"all stopped containers", "all networks not used by at least one container"}
	if volumes {
		items = append(items, "all anonymous volumes not used by at least one container")
	}
	if opts.all {
		items = append(items, "all images without at least one container associated to them", "all build cache")
	} else {
		items = append(items, "all dangling images", "unused build cache")
	}
	if !opts.force && !confirm(c, "WARNING! This will remove:\n  - "+strings.Join(items, "\n  - ")+"\n") {
		return statusError{code: 1, msg: "Error: system prune has been cancelled"}
	}
	f := opts.filter.filters()
	total, err := pruneContainers(ctx, c, f)
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	nets, err := api.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: f})
	if err != nil {
		return err
	}
	if len(nets.Report.NetworksDeleted) > 0 {
		fmt.Fprintf(c.Out, "Deleted Networks:\n%s\n\n", strings.Join(nets.Report.NetworksDeleted, "\n"))
	}
	if volumes {
		vols, err := api.VolumePrune(ctx, client.VolumePruneOptions{Filters: f})
		if err != nil {
			return err
		}
		if len(vols.Report.VolumesDeleted) > 0 {
			fmt.Fprintf(c.Out, "Deleted Volumes:\n%s\n\n", strings.Join(vols.Report.VolumesDeleted, "\n"))
		}
		total += vols.Report.SpaceReclaimed
	}
	space, err := pruneImages(ctx, c, opts.all, f)
	if err != nil {
		return err
	}
	total += space
	if space, err = pruneBuildCache(ctx, c, client.BuildCachePruneOptions{All: opts.all, Filters: f}); err != nil {
		return err
	}
	total += space
	fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(total)))
	return nil
}

// runSystemDf prints docker system df's table, or with verbose its
// per-object sections.
func runSystemDf(ctx context.Context, c *Cli, verbose bool, format string) error {
	if verbose && format != "" {
		return fmt.Errorf("--format with --verbose is not supported by gantry\nhint: docker system df -v --format prints the verbose lists through the template; gantry system df --format formats the summary")
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	du, err := api.DiskUsage(ctx, client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose})
	if err != nil {
		return err
	}
	size := func(n int64) string { return units.HumanSize(float64(n)) }
	reclaim := func(n, total int64) string {
		if total <= 0 {
			return size(n)
		}
		return fmt.Sprintf("%s (%d%%)", size(n), n*100/total)
	}
	if format != "" {
		f, err := parseListFormat(format, dfHeaders)
		if err != nil {
			return err
		}
		return f.write(c.Out, []any{
			dfRow{"Images", du.Images.TotalCount, du.Images.ActiveCount, size(du.Images.TotalSize), reclaim(du.Images.Reclaimable, du.Images.TotalSize)},
			dfRow{"Containers", du.Containers.TotalCount, du.Containers.ActiveCount, size(du.Containers.TotalSize), reclaim(du.Containers.Reclaimable, du.Containers.TotalSize)},
			dfRow{"Local Volumes", du.Volumes.TotalCount, du.Volumes.ActiveCount, size(du.Volumes.TotalSize), reclaim(du.Volumes.Reclaimable, du.Volumes.TotalSize)},
			dfRow{"Build Cache", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, size(du.BuildCache.TotalSize), size(du.BuildCache.Reclaimable)},
		})
	}
	tw := tabwriter.NewWriter(c.Out, 10, 1, 3, ' ', 0)
	if !verbose {
		fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
		fmt.Fprintf(tw, "Images\t%d\t%d\t%s\t%s\n", du.Images.TotalCount, du.Images.ActiveCount, size(du.Images.TotalSize), reclaim(du.Images.Reclaimable, du.Images.TotalSize))
		fmt.Fprintf(tw, "Containers\t%d\t%d\t%s\t%s\n", du.Containers.TotalCount, du.Containers.ActiveCount, size(du.Containers.TotalSize), reclaim(du.Containers.Reclaimable, du.Containers.TotalSize))
		fmt.Fprintf(tw, "Local Volumes\t%d\t%d\t%s\t%s\n", du.Volumes.TotalCount, du.Volumes.ActiveCount, size(du.Volumes.TotalSize), reclaim(du.Volumes.Reclaimable, du.Volumes.TotalSize))
		fmt.Fprintf(tw, "Build Cache\t%d\t%d\t%s\t%s\n", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, size(du.BuildCache.TotalSize), size(du.BuildCache.Reclaimable))
		return tw.Flush()
	}
	ago := func(t time.Time) string { return units.HumanDuration(time.Since(t)) + " ago" }
	fmt.Fprintln(c.Out, "Images space usage:")
	fmt.Fprintln(c.Out)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS")
	for _, img := range du.Images.Items {
		repo, tag := "<none>", "<none>"
		if len(img.RepoTags) > 0 {
			if i := strings.LastIndex(img.RepoTags[0], ":"); i > 0 {
				repo, tag = img.RepoTags[0][:i], img.RepoTags[0][i+1:]
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", repo, tag, shortID(img.ID), ago(time.Unix(img.Created, 0)),
			size(img.Size), size(img.SharedSize), size(img.Size-img.SharedSize), img.Containers)
	}
	tw.Flush()
	fmt.Fprintln(c.Out, "\nContainers space usage:")
	fmt.Fprintln(c.Out)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES")
	for _, ctr := range du.Containers.Items {
		vols := 0
		for _, m := range ctr.Mounts {
			if m.Type == "volume" {
				vols++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%q\t%d\t%s\t%s\t%s\t%s\n", shortID(ctr.ID), ctr.Image, ctr.Command, vols, size(ctr.SizeRw),
			ago(time.Unix(ctr.Created, 0)), ctr.Status, strings.TrimPrefix(strings.Join(ctr.Names, ","), "/"))
	}
	tw.Flush()
	fmt.Fprintln(c.Out, "\nLocal Volumes space usage:")
	fmt.Fprintln(c.Out)
	fmt.Fprintln(tw, "VOLUME NAME\tLINKS\tSIZE")
	for _, v := range du.Volumes.Items {
		var links, sz int64 = 0, -1
		if v.UsageData != nil {
			links, sz = v.UsageData.RefCount, v.UsageData.Size
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", v.Name, links, size(sz))
	}
	tw.Flush()
	fmt.Fprintln(c.Out, "\nBuild cache usage:", size(du.BuildCache.TotalSize))
	fmt.Fprintln(c.Out)
	fmt.Fprintln(tw, "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED")
	for _, b := range du.BuildCache.Items {
		last := ""
		if b.LastUsedAt != nil {
			last = ago(*b.LastUsedAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%t\n", b.ID[:min(len(b.ID), 12)], b.Type, size(b.Size), ago(b.CreatedAt), last, b.UsageCount, b.Shared)
	}
	return tw.Flush()
}

// dfHeaders are the column titles of system df --format tables.
var dfHeaders = map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}

// dfRow is one line of system df for --format templates, docker's fields.
type dfRow struct {
	typ           string
	total, active int64
	size, reclaim string
}

func (r dfRow) Type() string        { return r.typ }
func (r dfRow) TotalCount() string  { return strconv.FormatInt(r.total, 10) }
func (r dfRow) Active() string      { return strconv.FormatInt(r.active, 10) }
func (r dfRow) Size() string        { return r.size }
func (r dfRow) Reclaimable() string { return r.reclaim }

// MarshalJSON is the row for {{json .}} and --format json, as docker's.
func (r dfRow) MarshalJSON() ([]byte, error) { return marshalRow(r) }
