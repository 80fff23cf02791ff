package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type runOptions struct {
	createOptions
	detach     bool
	detachKeys string
	sigProxy   bool
}

func newRunCommand(c *Cli) *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.image, opts.args = args[0], args[1:]
			opts.entrypointSet = cmd.Flags().Changed("entrypoint")
			return runRun(cmd.Context(), c, cmd, opts)
		},
	}
	addContainerFlags(cmd.Flags(), &opts.flags)
	cmd.Flags().BoolVarP(&opts.detach, "detach", "d", false, "Run container in background and print container ID")
	cmd.Flags().StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	cmd.Flags().BoolVar(&opts.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	return cmd
}

// runRun is docker's run flow: create (pulling a missing image), attach
// unless detached, wait (next-exit, or removed with --rm), start, resize a
// TTY, stream until the attach ends, then exit with the container's status.
// Create and start failures exit 125, 126 or 127 (see runExitStatus).
func runRun(ctx context.Context, c *Cli, cmd *cobra.Command, opts runOptions) error {
	f := opts.flags
	if opts.detach && len(f.more.attach) > 0 {
		return verbError(cmd, errors.New("conflicting options: cannot specify both --attach and --detach"), 125)
	}
	cc, err := f.toConfig(opts.image, opts.args, opts.detach, opts.entrypointSet)
	if err != nil {
		return verbError(cmd, err, 125)
	}
	if f.tty {
		h, w := terminalSize(c.Out)
		cc.host.ConsoleSize = [2]uint{h, w}
	}
	id, err := c.createContainer(ctx, cc, f.name)
	if err != nil {
		return verbError(cmd, err, runExitStatus(err))
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	if !opts.detach && opts.sigProxy && !f.tty {
		// As docker run: the signals this process gets go to the
		// container (ctrl-c is its SIGINT, a SIGTERM its SIGTERM), and
		// the run ends when the container does.
		ctx = context.WithoutCancel(ctx)
		defer proxySignals(ctx, api, id)()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var streamDone <-chan error
	cfg := cc.config
	if !opts.detach && (cfg.AttachStdin || cfg.AttachStdout || cfg.AttachStderr) {
		streamDone, err = c.attach(ctx, api, id, attachIO{stdin: cfg.AttachStdin, tty: f.tty, detachKeys: opts.detachKeys,
			noStdout: !cfg.AttachStdout, noStderr: !cfg.AttachStderr})
		if err != nil {
			return verbError(cmd, err, 125)
		}
	}
	wait := waitCondition(ctx, api, id, f.autoRemove)

	if _, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		cancel()
		if f.autoRemove {
			<-wait
		}
		return verbError(cmd, err, runExitStatus(err))
	}
	if opts.detach {
		fmt.Fprintln(c.Out, id)
		return nil
	}
	if f.tty {
		c.monitorTTYSize(ctx, containerResizer(api, id))
	}
	if streamDone == nil {
		return exitWith(<-wait)
	}
	if err := <-streamDone; err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	return exitWith(<-wait)
}

// waitResult is a container's exit status, or the error that prevented
// learning it.
type waitResult struct {
	code int64
	err  error
}

// waitCondition registers a wait for the container's next exit (or its
// removal when autoRemove) and returns a channel that yields the outcome.
// The wait is registered with the daemon before waitCondition returns.
func waitCondition(ctx context.Context, api *client.Client, id string, autoRemove bool) <-chan waitResult {
	cond := container.WaitConditionNextExit
	if autoRemove {
		cond = container.WaitConditionRemoved
	}
	res := api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	out := make(chan waitResult, 1)
	go func() {
		select {
		case r := <-res.Result:
			if r.Error != nil && r.Error.Message != "" {
				out <- waitResult{code: 125, err: fmt.Errorf("Error waiting for container: %s", r.Error.Message)}
				return
			}
			out <- waitResult{code: r.StatusCode}
		case err := <-res.Error:
			out <- waitResult{code: 125, err: fmt.Errorf("Error waiting for container: %w", err)}
		}
	}()
	return out
}

// exitWith turns a wait outcome into the command's result: the container's
// own status, printed errors exiting 125.
func exitWith(r waitResult) error {
	if r.err != nil {
		return statusError{code: int(r.code), msg: r.err.Error()}
	}
	if r.code != 0 {
		return statusError{code: int(r.code)}
	}
	return nil
}

func containerResizer(api *client.Client, id string) resizeFunc {
	return func(ctx context.Context, h, w uint) error {
		_, err := api.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
		return err
	}
}

// proxySignals forwards every signal this process receives to container
// id, as docker run's --sig-proxy does (SIGCHLD, SIGPIPE, SIGURG and
// SIGWINCH are the process's own), until the returned stop is called.
func proxySignals(ctx context.Context, api *client.Client, id string) (stop func()) {
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				sig, ok := s.(syscall.Signal)
				if !ok || sig == syscall.SIGCHLD || sig == syscall.SIGPIPE || sig == syscall.SIGURG || sig == syscall.SIGWINCH {
					continue
				}
				api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: strconv.Itoa(int(sig))})
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
