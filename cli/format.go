package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode/utf8"

	units "github.com/docker/go-units"
)

const (
	tableKey = "table"
	// jsonKey is docker's --format json: each row as {{json .}}.
	jsonKey = "json"
)

// templateFuncs are the functions docker offers in --format templates.
var templateFuncs = template.FuncMap{
	"json": func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return ""
		}
		return strings.TrimSpace(buf.String())
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"truncate": func(s string, n int) string { return ellipsisRunes(s, n, "") },
	"println":  func(args ...any) string { return fmt.Sprintln(args...) },
}

// headerFuncs replace templateFuncs when a table header is rendered: every
// function hands the header text through.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v string, _ string) string { return v },
	"join":     func(v string, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"pad":      func(v string, _, _ int) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

// listFormat renders rows through a docker-style --format: a Go template, or
// "table " + template for a tabwriter table whose header row comes from
// headers (field name -> column title).
type listFormat struct {
	table   bool
	tmpl    *template.Template
	header  *template.Template
	headers map[string]string
}

// parseListFormat parses format; `\t` and `\n` written literally become tab and
// newline, as in docker.
func parseListFormat(format string, headers map[string]string) (*listFormat, error) {
	f := &listFormat{headers: headers}
	if strings.TrimSpace(format) == jsonKey {
		format = "{{json .}}"
	}
	if strings.HasPrefix(format, tableKey) {
		f.table = true
		format = format[len(tableKey):]
	}
	format = strings.Trim(format, " ")
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	f.tmpl = tmpl
	if f.table {
		// A header that does not render (a method with arguments) is left blank.
		f.header, _ = template.New("").Funcs(headerFuncs).Parse(format)
	}
	return f, nil
}

// uses reports whether the template refers to field (".Size" for example).
func (f *listFormat) uses(field string) bool {
	return strings.Contains(f.tmpl.Root.String(), "."+field)
}

// write renders rows (values whose methods the template calls) to w, each
// followed by a newline, under a header row when the format is a table.
func (f *listFormat) write(w io.Writer, rows []any) error {
	var buf bytes.Buffer
	for _, r := range rows {
		if err := f.tmpl.Execute(&buf, r); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		buf.WriteString("\n")
	}
	if !f.table {
		_, err := buf.WriteTo(w)
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if f.header != nil {
		var hb bytes.Buffer
		if err := f.header.Execute(&hb, f.headers); err == nil {
			hb.WriteTo(tw)
		}
	}
	tw.Write([]byte("\n"))
	buf.WriteTo(tw)
	return tw.Flush()
}

// ellipsis shortens s to at most n runes, ending it with "…" when cut.
func ellipsis(s string, n int) string {
	return ellipsisRunes(s, n, "…")
}

func ellipsisRunes(s string, n int, mark string) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	if mark == "" || n == 1 {
		return string(rs[:n])
	}
	return string(rs[:n-1]) + mark
}

// shortID drops a "sha256:" prefix and keeps 12 characters, as docker shows IDs.
func shortID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// since renders a unix time as docker's "3 minutes ago", relative to now.
func since(now time.Time, unix int64) string {
	return units.HumanDuration(now.UTC().Sub(time.Unix(unix, 0))) + " ago"
}

// humanSize renders a byte count as docker does ("1.98MB").
func humanSize(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// unixString renders a unix time as Go's time.Time.String in local time, the
// CreatedAt column of docker.
func unixString(unix int64) string {
	return time.Unix(unix, 0).String()
}

// marshalRow encodes a --format row as docker's formatter does for
// {{json .}} and --format json: an object of every exported method that
// takes no argument and returns one value, by the method's name.
func marshalRow(row any) ([]byte, error) {
	v := reflect.ValueOf(row)
	m := map[string]any{}
	for i := range v.NumMethod() {
		meth := v.Method(i)
		if t := meth.Type(); t.NumIn() != 0 || t.NumOut() != 1 {
			continue
		}
		m[v.Type().Method(i).Name] = meth.Call(nil)[0].Interface()
	}
	return json.Marshal(m)
}
