package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

func TestLifecycleFlags(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name    string
		args    []string
		policy  container.RestartPolicy
		init    *bool
		health  *container.HealthConfig
		wantErr string
	}{
		{name: "defaults", policy: container.RestartPolicy{Name: "no"}},
		{name: "always", args: []string{"--restart", "always"}, policy: container.RestartPolicy{Name: "always"}},
		{name: "on-failure count", args: []string{"--restart", "on-failure:3"}, policy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}},
		{name: "bad count", args: []string{"--restart", "on-failure:x"}, wantErr: "maximum retry count must be an integer"},
		{name: "init", args: []string{"--init"}, policy: container.RestartPolicy{Name: "no"}, init: &yes},
		{
			name:   "health",
			args:   []string{"--health-cmd", "wget -q localhost", "--health-interval", "2s", "--health-timeout", "1s", "--health-retries", "4", "--health-start-period", "5s", "--health-start-interval", "100ms"},
			policy: container.RestartPolicy{Name: "no"},
			health: &container.HealthConfig{Test: []string{"CMD-SHELL", "wget -q localhost"}, Interval: 2 * time.Second, Timeout: time.Second, Retries: 4, StartPeriod: 5 * time.Second, StartInterval: 100 * time.Millisecond},
		},
		{name: "no healthcheck", args: []string{"--no-healthcheck"}, policy: container.RestartPolicy{Name: "no"}, health: &container.HealthConfig{Test: []string{"NONE"}}},
		{name: "no healthcheck and cmd", args: []string{"--no-healthcheck", "--health-cmd", "true"}, wantErr: "--no-healthcheck conflicts with --health-* options"},
		{name: "negative retries", args: []string{"--health-retries", "-1"}, wantErr: "--health-retries cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f containerFlags
			fl := pflag.NewFlagSet("run", pflag.ContinueOnError)
			addContainerFlags(fl, &f)
			if err := fl.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cc, err := f.toConfig("busybox", nil, true, false)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.policy, cc.host.RestartPolicy); diff != "" {
				t.Errorf("restart policy (-want +got):\n%s", diff)
			}
			if !cmp.Equal(tc.init, cc.host.Init) {
				t.Errorf("init %v, want %v", cc.host.Init, tc.init)
			}
			if diff := cmp.Diff(tc.health, cc.config.Healthcheck); diff != "" {
				t.Errorf("healthcheck (-want +got):\n%s", diff)
			}
		})
	}
}
