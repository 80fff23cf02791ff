package cli

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gantry/gantry/client"
)

// progName is how the CLI names itself in help and error text where the docker
// CLI says "docker".
const progName = "gantry"

// Streams are the process's standard streams; tests substitute buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// NewStreams returns the process's own stdin, stdout and stderr.
func NewStreams() Streams {
	return Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
}

// Cli is what every verb receives: the streams and a lazily built client.
type Cli struct {
	Streams
	host   string
	client *client.Client
}

// Client returns the Engine API client for the host chosen by -H or the
// environment, building it on first use.
func (c *Cli) Client() (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	cl, err := client.New(client.ResolveHost(c.host))
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// Run executes the command line args (without the program name) and returns
// the process exit status, having printed any error to s.Err.
func Run(ctx context.Context, s Streams, args []string) int {
	c := &Cli{Streams: s}
	root := newRootCommand(c)
	root.SetArgs(args)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if c.client != nil {
		c.client.Close()
	}
	return exitStatus(s.Err, err)
}

func newRootCommand(c *Cli) *cobra.Command {
	root := &cobra.Command{
		Use:           progName + " [OPTIONS] COMMAND [ARG...]",
		Short:         "A Docker-compatible container engine client",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		// cobra's `completion bash|zsh|fish|powershell`.
		CompletionOptions: cobra.CompletionOptions{DisableDescriptions: false},
		// Global flags come before the verb, as with docker (-H is not
		// persistent: history has its own -H).
		TraverseChildren: true,
	}
	root.Flags().SetInterspersed(false)
	root.Flags().StringVarP(&c.host, "host", "H", "", "Daemon socket to connect to (default $"+client.HostEnv+" or "+client.DefaultHost+")")
	root.SetFlagErrorFunc(flagError)

	image := &cobra.Command{Use: "image", Short: "Manage images", Args: noArgs, RunE: showHelp}
	image.AddCommand(
		newSaveCommand(c), newLoadCommand(c),
		newImportCommand(c), newImagesCommand(c, "ls"), newImageInspectCommand(c),
		newHistoryCommand(c), newTagCommand(c), newRmiCommand(c, "rm"),
		newPullCommand(c), newPushCommand(c), newImagePruneCommand(c),
	)
	ctr := &cobra.Command{Use: "container", Short: "Manage containers", Args: noArgs, RunE: showHelp}
	ctr.AddCommand(
		newRunCommand(c), newCreateCommand(c), newStartCommand(c), newAttachCommand(c),
		newPsCommand(c, "ls"), newLogsCommand(c), newStopCommand(c), newKillCommand(c),
		newRestartCommand(c), newRmCommand(c, "rm"), newContainerInspectCommand(c),
		newCommitCommand(c), newWaitCommand(c), newRenameCommand(c),
		newCpCommand(c), newExportCommand(c), newPortCommand(c),
		newExecCommand(c), newTopCommand(c), newStatsCommand(c),
		newPauseCommand(c), newUnpauseCommand(c), newDiffCommand(c), newUpdateCommand(c),
		newContainerPruneCommand(c),
	)
	root.AddCommand(image, ctr,
		newSaveCommand(c), newLoadCommand(c),
		newBuildCommand(c),
		newImportCommand(c), newImagesCommand(c, ""), newHistoryCommand(c),
		newTagCommand(c), newRmiCommand(c, ""), newRunCommand(c), newCreateCommand(c),
		newStartCommand(c), newAttachCommand(c), newPsCommand(c, ""), newLogsCommand(c),
		newStopCommand(c), newKillCommand(c), newRestartCommand(c), newRmCommand(c, ""),
		newInspectCommand(c), newCommitCommand(c), newWaitCommand(c), newRenameCommand(c),
		newVersionCommand(c), newInfoCommand(c),
		newVolumeCommand(c),
		newPullCommand(c), newPushCommand(c), newLoginCommand(c), newLogoutCommand(c),
		newCpCommand(c), newExportCommand(c),
		newNetworkCommand(c), newPortCommand(c),
		newExecCommand(c), newTopCommand(c), newStatsCommand(c),
		newPauseCommand(c), newUnpauseCommand(c), newDiffCommand(c), newUpdateCommand(c),
		newSystemCommand(c), newBuilderCommand(c), newEventsCommand(c),
	)
	disableFlagsInUseLine(root)
	return root
}

// disableFlagsInUseLine keeps cobra from appending "[flags]": usage lines say
// [OPTIONS] as docker's do.
func disableFlagsInUseLine(cmd *cobra.Command) {
	cmd.DisableFlagsInUseLine = true
	for _, sub := range cmd.Commands() {
		disableFlagsInUseLine(sub)
	}
}

func showHelp(cmd *cobra.Command, _ []string) error {
	return cmd.Help()
}
