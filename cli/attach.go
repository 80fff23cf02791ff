package cli

import (
	"context"
	"errors"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type attachOptions struct {
	container  string
	noStdin    bool
	detachKeys string
}

func newAttachCommand(c *Cli) *cobra.Command {
	var opts attachOptions
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.container = args[0]
			return runAttach(cmd.Context(), c, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.noStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	cmd.Flags().Bool("sig-proxy", true, "Proxy all received signals to the process (accepted, not implemented)")
	return cmd
}

// runAttach connects the local streams to a running container until it exits
// (then exits with its status) or the user detaches.
func runAttach(ctx context.Context, c *Cli, opts attachOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.ContainerInspect(ctx, opts.container, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ctr := res.Container
	switch {
	case ctr.State == nil || !ctr.State.Running:
		return errors.New("You cannot attach to a stopped container, start it first")
	case ctr.State.Paused:
		return errors.New("You cannot attach to a paused container, unpause it first")
	case ctr.State.Restarting:
		return errors.New("You cannot attach to a restarting container, wait until it is running")
	}
	tty := ctr.Config != nil && ctr.Config.Tty
	stdin := !opts.noStdin && ctr.Config != nil && ctr.Config.OpenStdin
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := api.ContainerWait(ctx, opts.container, client.ContainerWaitOptions{})
	done, err := c.attach(ctx, api, opts.container, attachIO{stdin: stdin, tty: tty, detachKeys: opts.detachKeys})
	if err != nil {
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
	select {
	case r := <-wait.Result:
		if r.Error != nil {
			return errors.New(r.Error.Message)
		}
		return exitWith(waitResult{code: r.StatusCode})
	case err := <-wait.Error:
		return err
	}
}
