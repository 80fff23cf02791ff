package cli

import (
	"errors"
	"sort"
	"strings"

	"github.com/moby/moby/client"
)

var errBadFilter = errors.New("bad format of filter (expected name=value)")

// filterFlag is a repeatable --filter name=value flag; a value without "="
// is a usage error (exit 125). Names are lower-cased and trimmed, as docker does.
type filterFlag struct {
	f client.Filters
}

func newFilterFlag() *filterFlag { return &filterFlag{f: client.Filters{}} }

// Set adds one name=value pair.
func (ff *filterFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return errBadFilter
	}
	ff.f.Add(strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value))
	return nil
}

// String lists the filters as name=value pairs.
func (ff *filterFlag) String() string {
	var pairs []string
	for name, values := range ff.f {
		for v := range values {
			pairs = append(pairs, name+"="+v)
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, " ")
}

// Type names the flag's value in help.
func (ff *filterFlag) Type() string { return "filter" }

// filters returns a copy of the filters given so far.
func (ff *filterFlag) filters() client.Filters { return ff.f.Clone() }
