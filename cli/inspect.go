package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// inspectFunc fetches one object: its typed form for templates and the raw
// JSON the daemon sent, which is what is printed without a template.
type inspectFunc func(ctx context.Context, ref string) (typed any, raw []byte, err error)

type inspectOptions struct {
	refs   []string
	format string
	kind   string
	size   bool
}

func newInspectCommand(c *Cli) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on containers, images and volumes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs = args
			return runInspect(cmd.Context(), c, opts)
		},
	}
	addInspectFlags(cmd, &opts)
	cmd.Flags().StringVar(&opts.kind, "type", "", "Only inspect objects of the given type (container, image or volume)")
	cmd.Flags().BoolVarP(&opts.size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

func newContainerInspectCommand(c *Cli) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs, opts.kind = args, "container"
			return runInspect(cmd.Context(), c, opts)
		},
	}
	addInspectFlags(cmd, &opts)
	cmd.Flags().BoolVarP(&opts.size, "size", "s", false, "Display total file sizes")
	return cmd
}

func newImageInspectCommand(c *Cli) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs, opts.kind = args, "image"
			return runInspect(cmd.Context(), c, opts)
		},
	}
	addInspectFlags(cmd, &opts)
	return cmd
}

func addInspectFlags(cmd *cobra.Command, opts *inspectOptions) {
	cmd.Flags().StringVarP(&opts.format, "format", "f", "", "Format output using a custom template")
}

// runInspect prints the objects as an indented JSON array, or each through the
// template; objects not found are reported together at the end (exit 1).
func runInspect(ctx context.Context, c *Cli, opts inspectOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	getContainer := func(ctx context.Context, ref string) (any, []byte, error) {
		res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: opts.size})
		return res.Container, res.Raw, err
	}
	getImage := func(ctx context.Context, ref string) (any, []byte, error) {
		var raw bytes.Buffer
		res, err := api.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
		return res.InspectResponse, raw.Bytes(), err
	}
	getVolume := func(ctx context.Context, ref string) (any, []byte, error) {
		res, err := api.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
		return res.Volume, res.Raw, err
	}
	var get inspectFunc
	switch opts.kind {
	case "container":
		get = getContainer
	case "image":
		get = getImage
	case "volume":
		get = getVolume
	case "":
		get = firstFound(getContainer, getImage, getVolume)
	default:
		return fmt.Errorf("%q is not a valid value for --type", opts.kind)
	}
	return inspectAll(ctx, c.Out, opts.refs, opts.format, get)
}

// firstFound tries each getter in turn while they answer "not found".
func firstFound(getters ...inspectFunc) inspectFunc {
	return func(ctx context.Context, ref string) (any, []byte, error) {
		for _, get := range getters {
			typed, raw, err := get(ctx, ref)
			if !cerrdefs.IsNotFound(err) {
				return typed, raw, err
			}
		}
		return nil, nil, fmt.Errorf("Error: No such object: %s", ref)
	}
}

func inspectAll(ctx context.Context, out io.Writer, refs []string, format string, get inspectFunc) error {
	var tmpl *template.Template
	if format != "" {
		t, err := template.New("").Funcs(templateFuncs).Parse(format)
		if err != nil {
			return statusError{code: 64, msg: "template parsing error: " + err.Error()}
		}
		tmpl = t
	}
	var raws [][]byte
	var text bytes.Buffer
	var errs []string
	for _, ref := range refs {
		typed, raw, err := get(ctx, ref)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if tmpl == nil {
			raws = append(raws, raw)
			continue
		}
		if err := executeInspect(&text, tmpl, typed, raw); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if tmpl == nil {
		if err := writeJSONArray(out, raws); err != nil {
			return err
		}
	} else {
		text.WriteTo(out)
	}
	if len(errs) > 0 {
		return statusError{code: 1, msg: strings.Join(errs, "\n")}
	}
	return nil
}

// executeInspect runs tmpl on the typed object, falling back to the raw JSON
// as maps when the typed form lacks a field (templates may use wire names
// such as .Id).
func executeInspect(w *bytes.Buffer, tmpl *template.Template, typed any, raw []byte) error {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, typed); err != nil {
		buf.Reset()
		var m any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if derr := dec.Decode(&m); derr != nil {
			return fmt.Errorf("template: %w", err)
		}
		if err := tmpl.Execute(&buf, m); err != nil {
			return fmt.Errorf("template: %w", err)
		}
	}
	buf.WriteString("\n")
	_, err := buf.WriteTo(w)
	return err
}

func writeJSONArray(out io.Writer, raws [][]byte) error {
	if len(raws) == 0 {
		_, err := io.WriteString(out, "[]\n")
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, append(append([]byte("["), bytes.Join(raws, []byte(","))...), ']'), "", "    "); err != nil {
		return fmt.Errorf("indent inspect output: %w", err)
	}
	buf.WriteString("\n")
	_, err := buf.WriteTo(out)
	return err
}
