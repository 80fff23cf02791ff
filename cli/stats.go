package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeaders = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
	"BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

type statsOptions struct {
	containers []string
	all        bool
	noStream   bool
	noTrunc    bool
	format     string
}

func newStatsCommand(c *Cli) *cobra.Command {
	var opts statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.containers = args
			return runStats(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.all, "all", "a", false, "Show all containers (default shows just running)")
	fl.BoolVar(&opts.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	fl.BoolVar(&opts.noTrunc, "no-trunc", false, "Do not truncate output")
	fl.StringVar(&opts.format, "format", defaultStatsFormat, "Format output using a custom template")
	return cmd
}

// runStats prints a table of the containers' resource usage: once with
// --no-stream, else redrawn every second until interrupted, as docker does.
func runStats(ctx context.Context, c *Cli, opts statsOptions) error {
	format, err := parseListFormat(opts.format, statsHeaders)
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	names := opts.containers
	if len(names) == 0 {
		list, err := api.ContainerList(ctx, client.ContainerListOptions{All: opts.all})
		if err != nil {
			return err
		}
		for _, ctr := range list.Items {
			names = append(names, ctr.ID)
		}
	}
	rows := make([]*statsRow, len(names))
	var mu sync.Mutex
	// wg counts the collectors running; first those that have neither a
	// sample nor an error yet.
	var wg, first sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		rows[i] = &statsRow{container: name, noTrunc: opts.noTrunc}
		wg.Add(1)
		first.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			err := collectStats(ctx, api, name, !opts.noStream, func(s *container.StatsResponse) {
				mu.Lock()
				rows[i].sample = s
				mu.Unlock()
				once.Do(first.Done)
			})
			mu.Lock()
			errs[i] = err
			mu.Unlock()
			once.Do(first.Done)
		}()
	}
	render := func() error {
		mu.Lock()
		defer mu.Unlock()
		list := make([]any, len(rows))
		for i, r := range rows {
			list[i] = *r
		}
		return format.write(c.Out, list)
	}
	if opts.noStream {
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return render()
	}
	// As docker: a container named on the command line that fails (no such
	// container) before its first sample ends the command with its error.
	first.Wait()
	if len(opts.containers) > 0 {
		mu.Lock()
		err := errors.Join(errs...)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		fmt.Fprint(c.Out, "\033[2J\033[H")
		if err := render(); err != nil {
			return err
		}
	}
}

// collectStats reads the container's samples (one, or a stream) into set.
func collectStats(ctx context.Context, api *client.Client, name string, stream bool, set func(*container.StatsResponse)) error {
	res, err := api.ContainerStats(ctx, name, client.ContainerStatsOptions{Stream: stream, IncludePreviousSample: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return err
		}
		set(&s)
	}
}

// statsRow is one container's line of the table; its methods are the
// fields --format templates name.
type statsRow struct {
	container string
	noTrunc   bool
	sample    *container.StatsResponse
}

func (r statsRow) Container() string { return r.container }

func (r statsRow) ID() string {
	if r.sample == nil {
		return r.container
	}
	if !r.noTrunc && len(r.sample.ID) > 12 {
		return r.sample.ID[:12]
	}
	return r.sample.ID
}

func (r statsRow) Name() string {
	if r.sample == nil || len(r.sample.Name) < 2 {
		return "--"
	}
	return r.sample.Name[1:]
}

// CPUPerc is docker's: the container's share of the host's CPU time since
// the previous sample, times the number of CPUs.
func (r statsRow) CPUPerc() string {
	if r.sample == nil {
		return "--"
	}
	s := r.sample
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	cpus := float64(s.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	pct := 0.0
	if sysDelta > 0 && cpuDelta > 0 {
		pct = cpuDelta / sysDelta * cpus * 100
	}
	return fmt.Sprintf("%.2f%%", pct)
}

// memUsage is the usage without the inactive page cache, as docker counts it.
func (r statsRow) memUsage() float64 {
	m := r.sample.MemoryStats
	usage := float64(m.Usage)
	for _, key := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := m.Stats[key]; ok && v < m.Usage {
			return usage - float64(v)
		}
	}
	return usage
}

func (r statsRow) MemUsage() string {
	if r.sample == nil {
		return "-- / --"
	}
	return units.BytesSize(r.memUsage()) + " / " + units.BytesSize(float64(r.sample.MemoryStats.Limit))
}

func (r statsRow) MemPerc() string {
	if r.sample == nil {
		return "--"
	}
	pct := 0.0
	if limit := float64(r.sample.MemoryStats.Limit); limit > 0 {
		pct = r.memUsage() / limit * 100
	}
	return fmt.Sprintf("%.2f%%", pct)
}

func (r statsRow) NetIO() string {
	if r.sample == nil {
		return "--"
	}
	var rx, tx float64
	for _, n := range r.sample.Networks {
		rx += float64(n.RxBytes)
		tx += float64(n.TxBytes)
	}
	return units.HumanSizeWithPrecision(rx, 3) + " / " + units.HumanSizeWithPrecision(tx, 3)
}

func (r statsRow) BlockIO() string {
	if r.sample == nil {
		return "--"
	}
	var read, write float64
	for _, e := range r.sample.BlkioStats.IoServiceBytesRecursive {
		switch {
		case len(e.Op) == 0:
		case e.Op[0] == 'r' || e.Op[0] == 'R':
			read += float64(e.Value)
		case e.Op[0] == 'w' || e.Op[0] == 'W':
			write += float64(e.Value)
		}
	}
	return units.HumanSizeWithPrecision(read, 3) + " / " + units.HumanSizeWithPrecision(write, 3)
}

func (r statsRow) PIDs() string {
	if r.sample == nil {
		return "--"
	}
	return fmt.Sprintf("%d", r.sample.PidsStats.Current)
}

// MarshalJSON is the row for {{json .}} and --format json, as docker's.
func (r statsRow) MarshalJSON() ([]byte, error) { return marshalRow(r) }
