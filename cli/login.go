package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

type loginOptions struct {
	user, password string
	passwordStdin  bool
}

func newLoginCommand(c *Cli) *cobra.Command {
	var opts loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			return runLogin(cmd.Context(), c, server, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.user, "username", "u", "", "Username")
	cmd.Flags().StringVarP(&opts.password, "password", "p", "", "Password")
	cmd.Flags().BoolVar(&opts.passwordStdin, "password-stdin", false, "Take the password from stdin")
	return cmd
}

// runLogin checks the credentials through the daemon and stores them (or
// the identity token the registry issued) for later pulls and pushes.
func runLogin(ctx context.Context, c *Cli, server string, opts loginOptions) error {
	if opts.passwordStdin {
		if opts.password != "" {
			return errors.New("--password and --password-stdin are mutually exclusive")
		}
		if opts.user == "" {
			return errors.New("Must provide --username with --password-stdin")
		}
		data, err := io.ReadAll(c.In)
		if err != nil {
			return err
		}
		opts.password = strings.TrimRight(string(data), "\r\n")
	}
	if opts.password != "" && !opts.passwordStdin {
		fmt.Fprintln(c.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	key := normalizeServer(server)
	creds, err := loadCredentials()
	if err != nil {
		return err
	}
	if opts.user == "" || opts.password == "" {
		if err := c.prompt(&opts); err != nil {
			return err
		}
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: opts.user, Password: opts.password, ServerAddress: key})
	if err != nil {
		return err
	}
	auth := registry.AuthConfig{ServerAddress: key, Username: opts.user, Password: opts.password, IdentityToken: res.Auth.IdentityToken}
	if err := creds.store(key, auth); err != nil {
		return fmt.Errorf("Error saving credentials: %w", err)
	}
	fmt.Fprintln(c.Out, res.Auth.Status)
	return nil
}

// prompt asks for what the flags did not give, as docker login does; the
// password is not echoed.
func (c *Cli) prompt(opts *loginOptions) error {
	in := bufio.NewReader(c.In)
	if opts.user == "" {
		fmt.Fprint(c.Out, "Username: ")
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			return errors.New("Error: Cannot perform an interactive login from a non TTY device")
		}
		opts.user = strings.TrimSpace(line)
	}
	if opts.password == "" {
		fmt.Fprint(c.Out, "Password: ")
		if fd, isTerm := term.GetFdInfo(c.In); isTerm {
			if state, err := term.SaveState(fd); err == nil && term.DisableEcho(fd, state) == nil {
				defer term.RestoreTerminal(fd, state)
			}
		}
		line, _ := in.ReadString('\n')
		fmt.Fprintln(c.Out)
		opts.password = strings.TrimRight(line, "\r\n")
	}
	if opts.user == "" || opts.password == "" {
		return errors.New("Error: Non-null Username Required")
	}
	return nil
}

func newLogoutCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			return runLogout(c, server)
		},
	}
}

// runLogout forgets the stored credentials of server, under every key
// naming it, as docker logout: a credential helper's failure is a warning.
func runLogout(c *Cli, server string) error {
	key := normalizeServer(server)
	creds, err := loadCredentials()
	if err != nil {
		return err
	}
	var warnings []error
	had, err := creds.erase(key, func(err error) { warnings = append(warnings, err) })
	if !had && err == nil {
		fmt.Fprintf(c.Out, "Not logged in to %s\n", key)
		return nil
	}
	fmt.Fprintf(c.Out, "Removing login credentials for %s\n", key)
	for _, w := range warnings {
		fmt.Fprintf(c.Err, "WARNING: could not erase credentials: %v\n", w)
	}
	return err
}
