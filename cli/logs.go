package cli

import (
	"context"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type logsOptions struct {
	container  string
	follow     bool
	tail       string
	timestamps bool
	since      string
	until      string
	details    bool
}

func newLogsCommand(c *Cli) *cobra.Command {
	var opts logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.container = args[0]
			return runLogs(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.follow, "follow", "f", false, "Follow log output")
	fl.StringVarP(&opts.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	fl.BoolVarP(&opts.timestamps, "timestamps", "t", false, "Show timestamps")
	fl.StringVar(&opts.since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	fl.StringVar(&opts.until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	fl.BoolVar(&opts.details, "details", false, "Show extra details provided to logs")
	return cmd
}

// runLogs copies the container's logs to stdout and stderr; the stream is
// demultiplexed unless the container has a TTY.
func runLogs(ctx context.Context, c *Cli, opts logsOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	ctr, err := api.ContainerInspect(ctx, opts.container, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	rc, err := api.ContainerLogs(ctx, ctr.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Since: opts.since, Until: opts.until,
		Timestamps: opts.timestamps, Follow: opts.follow, Tail: opts.tail, Details: opts.details,
	})
	if err != nil {
		return err
	}
	defer rc.Close()
	if ctr.Container.Config != nil && ctr.Container.Config.Tty {
		_, err = io.Copy(c.Out, rc)
	} else {
		_, err = stdcopy.StdCopy(c.Out, c.Err, rc)
	}
	return err
}
