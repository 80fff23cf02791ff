package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/spf13/cobra"
)

// statusError ends the command with a given exit status; msg, when not empty,
// is printed on stderr as is.
type statusError struct {
	code int
	msg  string
}

func (e statusError) Error() string { return e.msg }

// exitStatus is the one place where errors become exit statuses: nil is 0, a
// statusError carries its own, a JSON-stream error its code, every other
// error is printed and yields 1.
func exitStatus(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var st statusError
	if errors.As(err, &st) {
		if st.msg != "" {
			fmt.Fprintln(stderr, st.msg)
		}
		if st.code == 0 {
			return 1
		}
		return st.code
	}
	fmt.Fprintln(stderr, err)
	var jerr *jsonstream.Error
	if errors.As(err, &jerr) && jerr.Code != 0 {
		return jerr.Code
	}
	return 1
}

// runExitStatus classifies an error from creating or starting a container the
// way the docker CLI does: 127 when the command was not found, 126 when it
// could not be executed, else 125.
func runExitStatus(err error) int {
	msg := strings.TrimPrefix(err.Error(), "Error response from daemon: ")
	switch {
	case strings.Contains(msg, "executable file not found"),
		strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "system cannot find the file specified"):
		return 127
	case strings.Contains(msg, "permission denied"),
		strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}

// verbError reports err for a verb like run or create whose failures carry a
// help hint, with the given exit status.
func verbError(cmd *cobra.Command, err error, code int) error {
	msg := strings.TrimSuffix(err.Error(), ".")
	return statusError{code: code, msg: fmt.Sprintf("%s: %s\n\nRun '%s --help' for more information", progName, msg, cmd.CommandPath())}
}

// flagError is cobra's flag error hook: usage errors exit 125 like docker's.
func flagError(cmd *cobra.Command, err error) error {
	return statusError{code: 125, msg: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, cmd.UseLine(), cmd.CommandPath())}
}

// argsError reports a wrong argument count the way docker does (exit 1);
// hint is "See" or "Run", as docker words it for each kind of check.
func argsError(cmd *cobra.Command, what, hint string) error {
	return statusError{code: 1, msg: fmt.Sprintf("%s: '%s' %s\n\nUsage:  %s\n\n%s '%s --help' for more information",
		progName, cmd.CommandPath(), what, cmd.UseLine(), hint, cmd.CommandPath())}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		usage := ""
		if cmd.HasParent() {
			usage = "\n\nUsage:  " + cmd.UseLine()
		}
		return statusError{code: 1, msg: fmt.Sprintf("%s: unknown command: %s %s%s\n\nRun '%s --help' for more information",
			progName, cmd.CommandPath(), args[0], usage, cmd.CommandPath())}
	}
	return argsError(cmd, "accepts no arguments", "Run")
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsError(cmd, "requires at least "+plural(n, "argument"), "See")
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argsError(cmd, "requires at most "+plural(n, "argument"), "See")
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, "requires "+plural(n, "argument"), "Run")
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %s", lo, plural(hi, "argument")), "Run")
	}
}
