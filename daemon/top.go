package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
)

// ContainerTop implements GET /containers/{name}/top?ps_args=, as dockerd
// does: the host's ps (default options -ef) restricted to the container's
// processes. A container that is not running is a conflict.
func (d *Daemon) ContainerTop(ctx context.Context, name, psArgs string) (*container.TopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	if err := validatePSArgs(psArgs); err != nil {
		return nil, err
	}
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, err
	}
	if !c.Snapshot().IsRunning() {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", c.ID))
	}
	pids, err := d.runtime.Pids(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	args := strings.Fields(psArgs)
	out, err := exec.CommandContext(ctx, "ps", append(args, psPidsArg(pids))...).Output()
	if err != nil {
		// Some options (f) do not combine with -q: list everything instead.
		if out, err = exec.CommandContext(ctx, "ps", args...).Output(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if line, _, _ := bytes.Cut(ee.Stderr, []byte("\n")); len(line) > 0 {
					err = errors.New(string(line))
				}
			}
			return nil, fmt.Errorf("ps: %w", err)
		}
	}
	top, err := parsePSOutput(out, pids)
	if err == nil {
		d.containerEvent(c, evtypes.ActionTop, nil)
	}
	return top, err
}

// psPidsArg is ps's "-q1,2,3": only these processes.
func psPidsArg(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return "-q" + strings.Join(s, ",")
}

var psPidRedefinition = regexp.MustCompile(`\s+([^\s]*)=\s*(PID[^\s]*)`)

// validatePSArgs refuses options that rename another column to PID, which
// would make the filtering by pid pick the wrong column (dockerd's rule).
func validatePSArgs(psArgs string) error {
	for _, g := range psPidRedefinition.FindAllStringSubmatch(psArgs, -1) {
		if g[1] != "pid" {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("specifying \"%s=%s\" is not allowed", g[1], g[2]))
		}
	}
	return nil
}

// parsePSOutput keeps the rows of ps's output whose PID is one of pids (and
// the thread rows, PID "-", that follow one), splitting each into as many
// fields as there are titles, the last one keeping its spaces (the command).
func parsePSOutput(out []byte, pids []int) (*container.TopResponse, error) {
	lines := strings.Split(string(out), "\n")
	top := &container.TopResponse{Titles: strings.Fields(lines[0]), Processes: [][]string{}}
	pidCol := slices.Index(top.Titles, "PID")
	if pidCol < 0 {
		return nil, errors.New("Couldn't find PID field in ps output")
	}
	inContainer := false
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) < len(top.Titles) {
			continue
		}
		if fields[pidCol] != "-" {
			p, err := strconv.Atoi(fields[pidCol])
			if err != nil {
				return nil, fmt.Errorf("Unexpected pid '%s': %s", fields[pidCol], err)
			}
			inContainer = slices.Contains(pids, p)
		}
		if inContainer {
			n := len(top.Titles)
			top.Processes = append(top.Processes, append(fields[:n-1:n-1], strings.Join(fields[n-1:], " ")))
		}
	}
	return top, nil
}
