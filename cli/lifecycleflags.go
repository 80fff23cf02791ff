package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

// lifecycleFlags are the run and create flags of what happens to a running
// container: its restart policy, its init and its healthcheck, as docker's.
type lifecycleFlags struct {
	restart       string
	init          bool
	healthCmd     string
	healthInt     time.Duration
	healthTimeout time.Duration
	healthStart   time.Duration
	healthStartIn time.Duration
	healthRetries int
	noHealthcheck bool
}

func addLifecycleFlags(fl *pflag.FlagSet, f *lifecycleFlags) {
	fl.StringVar(&f.restart, "restart", "no", "Restart policy to apply when a container exits")
	fl.BoolVar(&f.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	fl.StringVar(&f.healthCmd, "health-cmd", "", "Command to run to check health")
	fl.DurationVar(&f.healthInt, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	fl.DurationVar(&f.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	fl.DurationVar(&f.healthStart, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	fl.DurationVar(&f.healthStartIn, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	fl.IntVar(&f.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	fl.BoolVar(&f.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// apply sets the flags' values on the create request, with the docker
// CLI's checks and words; the daemon checks the rest (policy names).
func (f *lifecycleFlags) apply(cfg *container.Config, hc *container.HostConfig, changed func(string) bool) error {
	policy, err := parseRestartPolicy(f.restart)
	if err != nil {
		return err
	}
	hc.RestartPolicy = policy
	if changed("init") {
		hc.Init = &f.init
	}
	given := f.healthCmd != "" || f.healthInt != 0 || f.healthTimeout != 0 || f.healthStart != 0 || f.healthStartIn != 0 || f.healthRetries != 0
	if f.noHealthcheck {
		if given {
			return fmt.Errorf("--no-healthcheck conflicts with --health-* options")
		}
		cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if !given {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--health-interval", f.healthInt}, {"--health-timeout", f.healthTimeout}, {"--health-start-period", f.healthStart}, {"--health-start-interval", f.healthStartIn}} {
		if d.v < 0 {
			return fmt.Errorf("%s cannot be negative", d.name)
		}
	}
	if f.healthRetries < 0 {
		return fmt.Errorf("--health-retries cannot be negative")
	}
	hcfg := &container.HealthConfig{
		Interval: f.healthInt, Timeout: f.healthTimeout, StartPeriod: f.healthStart,
		StartInterval: f.healthStartIn, Retries: f.healthRetries,
	}
	if f.healthCmd != "" {
		hcfg.Test = []string{"CMD-SHELL", f.healthCmd}
	}
	cfg.Healthcheck = hcfg
	return nil
}

// parseRestartPolicy reads --restart as the docker CLI does: name[:max].
func parseRestartPolicy(s string) (container.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if name == "" {
		p.Name = container.RestartPolicyDisabled
	}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, fmt.Errorf("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	return p, nil
}
