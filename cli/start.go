package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type startOptions struct {
	containers []string
	attach     bool
	interact   bool
	detachKeys string
}

func newStartCommand(c *Cli) *cobra.Command {
	var opts startOptions
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.containers = args
			return runStart(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	fl.BoolVarP(&opts.interact, "interactive", "i", false, "Attach container's STDIN")
	fl.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// runStart starts each container, printing its name; with -a or -i it
// attaches to the single container and exits with its status.
func runStart(ctx context.Context, c *Cli, opts startOptions) error {
	if opts.attach || opts.interact {
		if len(opts.containers) > 1 {
			return errors.New("you cannot start and attach multiple containers at once")
		}
		return startAttached(ctx, c, opts)
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	var failed []string
	for _, name := range opts.containers {
		if _, err := api.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
			fmt.Fprintln(c.Err, err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintln(c.Out, name)
	}
	if len(failed) > 0 {
		// docker's wording, kept for compatibility.
		return fmt.Errorf("Error: failed to start containers: %s", strings.Join(failed, ", "))
	}
	return nil
}

func startAttached(ctx context.Context, c *Cli, opts startOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerInspect(ctx, opts.containers[0], client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ctr := res.Container
	tty := ctr.Config != nil && ctr.Config.Tty
	stdin := opts.interact && ctr.Config != nil && ctr.Config.OpenStdin
	autoRemove := ctr.HostConfig != nil && ctr.HostConfig.AutoRemove
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done, err := c.attach(ctx, api, ctr.ID, attachIO{stdin: stdin, tty: tty, detachKeys: opts.detachKeys})
	if err != nil {
		return err
	}
	wait := waitCondition(ctx, api, ctr.ID, autoRemove)
	if _, err := api.ContainerStart(ctx, ctr.ID, client.ContainerStartOptions{}); err != nil {
		cancel()
		<-done
		return err
	}
	if tty {
		c.monitorTTYSize(ctx, containerResizer(api, ctr.ID))
	}
	if err := <-done; err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	return exitWith(<-wait)
}
