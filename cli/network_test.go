package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestNaturalCompare(t *testing.T) {
	names := []string{"net10", "bridge", "net2", "host", "net02", "net", "none", "a1b10", "a1b9"}
	slices.SortFunc(names, naturalCompare)
	want := []string{"a1b9", "a1b10", "bridge", "host", "net", "net2", "net02", "net10", "none"}
	if !slices.Equal(names, want) {
		t.Errorf("sorted = %q, want %q", names, want)
	}
}

func TestNetworkPruneDeclined(t *testing.T) {
	var out, errb bytes.Buffer
	// No daemon is asked: the address is never dialled.
	code := Run(context.Background(), Streams{In: strings.NewReader("n\n"), Out: &out, Err: &errb},
		[]string{"-H", "unix:///nonexistent/gantry.sock", "network", "prune"})
	if code != 1 || errb.String() != "Error: network prune has been cancelled\n" {
		t.Errorf("declined network prune: exit %d, stderr %q; want 1 and the cancellation, as volume prune", code, errb.String())
	}
}
