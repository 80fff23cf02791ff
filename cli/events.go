package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// rfc3339NanoFixed is docker's time layout for events: nanoseconds always
// written, so that the lines align.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

type eventsOptions struct {
	since, until, format string
	filter               *filterFlag
}

func newEventsCommand(c *Cli) *cobra.Command {
	opts := eventsOptions{filter: newFilterFlag()}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.VarP(opts.filter, "filter", "f", "Filter output based on conditions provided")
	fl.StringVar(&opts.format, "format", "", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	fl.StringVar(&opts.since, "since", "", "Show all events created since timestamp")
	fl.StringVar(&opts.until, "until", "", "Stream events until this timestamp")
	return cmd
}

// eventRow is what an events --format template sees: the message with
// the legacy fields dockerd still sends (status and id of container and
// image events, from of container events), as the docker CLI decodes them.
type eventRow struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// runEvents streams the daemon's events (GET /events) until the daemon
// ends the stream (--until) or the command is interrupted, each printed
// as docker events prints it.
func runEvents(ctx context.Context, c *Cli, opts eventsOptions) error {
	var tmpl *template.Template
	switch opts.format {
	case "":
	case "json":
		tmpl = template.Must(template.New("").Funcs(templateFuncs).Parse("{{json .}}"))
	default:
		var err error
		if tmpl, err = template.New("").Funcs(templateFuncs).Parse(opts.format); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := api.Events(ctx, client.EventsListOptions{Since: opts.since, Until: opts.until, Filters: opts.filter.filters()})
	for {
		select {
		case m := <-res.Messages:
			if err := printEvent(c.Out, tmpl, m); err != nil {
				return err
			}
		case err := <-res.Err:
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
	}
}

// printEvent writes one event: through tmpl when given, else as docker's
// "TIME TYPE ACTION ID (k=v, ...)" line.
func printEvent(w io.Writer, tmpl *template.Template, m events.Message) error {
	if tmpl != nil {
		row := eventRow{Message: m}
		switch m.Type {
		case events.ContainerEventType:
			row.Status, row.ID, row.From = string(m.Action), m.Actor.ID, m.Actor.Attributes["image"]
		case events.ImageEventType:
			row.Status, row.ID = string(m.Action), m.Actor.ID
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, row); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		_, err := fmt.Fprintln(w, b.String())
		return err
	}
	var b strings.Builder
	switch {
	case m.TimeNano != 0:
		b.WriteString(time.Unix(0, m.TimeNano).Format(rfc3339NanoFixed) + " ")
	case m.Time != 0:
		b.WriteString(time.Unix(m.Time, 0).Format(rfc3339NanoFixed) + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		var attrs []string
		for _, k := range slices.Sorted(maps.Keys(m.Actor.Attributes)) {
			attrs = append(attrs, k+"="+m.Actor.Attributes[k])
		}
		b.WriteString(" (" + strings.Join(attrs, ", ") + ")")
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}
