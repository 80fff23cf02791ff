package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// Version is the gantry client's version.
const Version = "0.1.0"

// versionInfo is what `version --format` templates see.
type versionInfo struct {
	Client clientVersion
	Server *client.ServerVersionResult
}

type clientVersion struct {
	Version           string
	APIVersion        string `json:"ApiVersion"`
	DefaultAPIVersion string
	GoVersion         string
	Os                string
	Arch              string
}

func newVersionCommand(c *Cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the gantry version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), c, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// runVersion prints the client section, then the server's when the daemon
// answers; an unreachable daemon is reported after the client section.
func runVersion(ctx context.Context, c *Cli, format string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	v := versionInfo{Client: clientVersion{
		Version: Version, DefaultAPIVersion: client.MaxAPIVersion,
		GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH,
	}}
	sv, serr := api.ServerVersion(ctx, client.ServerVersionOptions{})
	if serr == nil {
		v.Server = &sv
	}
	v.Client.APIVersion = api.ClientVersion()
	if format != "" {
		tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
		if err != nil {
			return statusError{code: 64, msg: "template parsing error: " + err.Error()}
		}
		if err := tmpl.Execute(c.Out, v); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		fmt.Fprintln(c.Out)
		return serr
	}
	writeClientVersion(c.Out, v.Client)
	if v.Server != nil {
		fmt.Fprintln(c.Out)
		writeServerVersion(c.Out, *v.Server)
	}
	return serr
}

func writeClientVersion(w io.Writer, v clientVersion) {
	api := v.APIVersion
	if api != v.DefaultAPIVersion {
		api += " (downgraded from " + v.DefaultAPIVersion + ")"
	}
	fmt.Fprintf(w, "Client:\n")
	kv(w, 1, 19, "Version", v.Version)
	kv(w, 1, 19, "API version", api)
	kv(w, 1, 19, "Go version", v.GoVersion)
	kv(w, 1, 19, "OS/Arch", v.Os+"/"+v.Arch)
}

func writeServerVersion(w io.Writer, sv client.ServerVersionResult) {
	fmt.Fprint(w, "Server:")
	if sv.Platform.Name != "" {
		fmt.Fprint(w, " ", sv.Platform.Name)
	}
	fmt.Fprintln(w)
	for _, comp := range sv.Components {
		fmt.Fprintf(w, " %s:\n", comp.Name)
		if comp.Name != "Engine" {
			kv(w, 2, 18, "Version", comp.Version)
			for _, k := range sortedDetailKeys(comp) {
				kv(w, 2, 18, k, comp.Details[k])
			}
			continue
		}
		d := comp.Details
		kv(w, 2, 18, "Version", comp.Version)
		kv(w, 2, 18, "API version", d["ApiVersion"]+" (minimum version "+d["MinAPIVersion"]+")")
		kv(w, 2, 18, "Go version", d["GoVersion"])
		kv(w, 2, 18, "Git commit", d["GitCommit"])
		kv(w, 2, 18, "Built", ansicTime(d["BuildTime"]))
		kv(w, 2, 18, "OS/Arch", d["Os"]+"/"+d["Arch"])
		kv(w, 2, 18, "Experimental", d["Experimental"])
	}
}

// kv prints "key:" indented and padded to width, then the value, as in
// docker's version and info text.
func kv(w io.Writer, indent, width int, key, value string) {
	fmt.Fprintf(w, "%s%-*s%s\n", strings.Repeat(" ", indent), width, key+":", value)
}

func sortedDetailKeys(comp system.ComponentVersion) []string {
	keys := make([]string, 0, len(comp.Details))
	for k := range comp.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ansicTime reformats an RFC 3339 build time as docker prints it.
func ansicTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Format(time.ANSIC)
}
