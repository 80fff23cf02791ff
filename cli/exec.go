package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type execOptions struct {
	container   string
	cmd         []string
	interactive bool
	tty         bool
	detach      bool
	detachKeys  string
	env         []string
	envFiles    []string
	workdir     string
	user        string
	privileged  bool
}

func newExecCommand(c *Cli) *cobra.Command {
	var opts execOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.container, opts.cmd = args[0], args[1:]
			return runExec(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&opts.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fl.BoolVarP(&opts.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fl.BoolVarP(&opts.detach, "detach", "d", false, "Detached mode: run command in the background")
	fl.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	fl.StringArrayVarP(&opts.env, "env", "e", nil, "Set environment variables")
	fl.StringArrayVar(&opts.envFiles, "env-file", nil, "Read in a file of environment variables")
	fl.StringVarP(&opts.workdir, "workdir", "w", "", "Working directory inside the container")
	fl.StringVarP(&opts.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	fl.BoolVar(&opts.privileged, "privileged", false, "Give extended privileges to the command")
	return cmd
}

// runExec is docker's exec flow: create the exec; detached, start it and
// return; else start it attached (raw terminal and resizes with -t), stream
// until the output ends, then exit with the status the daemon recorded
// (126 when the command could not be started).
func runExec(ctx context.Context, c *Cli, opts execOptions) error {
	if opts.interactive && opts.tty {
		if _, ok := terminalFd(c.In); !ok {
			return errors.New("the input device is not a TTY")
		}
	}
	env := containerFlags{env: opts.env, envFiles: opts.envFiles}
	vars, err := env.environment()
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	create := client.ExecCreateOptions{
		User:         opts.user,
		Privileged:   opts.privileged,
		TTY:          opts.tty,
		AttachStdin:  opts.interactive && !opts.detach,
		AttachStdout: !opts.detach,
		AttachStderr: !opts.detach,
		DetachKeys:   opts.detachKeys,
		Env:          vars,
		WorkingDir:   opts.workdir,
		Cmd:          opts.cmd,
	}
	var size client.ConsoleSize
	if opts.tty {
		size.Height, size.Width = terminalSize(c.Out)
		create.ConsoleSize = size
	}
	created, err := api.ExecCreate(ctx, opts.container, create)
	if err != nil {
		return err
	}
	if opts.detach {
		_, err := api.ExecStart(ctx, created.ID, client.ExecStartOptions{Detach: true, TTY: opts.tty, ConsoleSize: size})
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: opts.tty, ConsoleSize: size})
	if err != nil {
		return err
	}
	done, err := c.stream(ctx, resp.HijackedResponse, attachIO{stdin: opts.interactive, tty: opts.tty, detachKeys: opts.detachKeys})
	if err != nil {
		resp.Close()
		return err
	}
	if opts.tty {
		c.monitorTTYSize(ctx, execResizer(api, created.ID))
	}
	if err := <-done; err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	ins, err := api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("exec status: %w", err)
	}
	if ins.ExitCode != 0 {
		return statusError{code: ins.ExitCode}
	}
	return nil
}

func execResizer(api *client.Client, id string) resizeFunc {
	return func(ctx context.Context, h, w uint) error {
		_, err := api.ExecResize(ctx, id, client.ExecResizeOptions{Height: h, Width: w})
		return err
	}
}
