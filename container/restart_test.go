package container

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

func TestCheckRestartPolicy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     container.RestartPolicy
		autoRemove bool
		want       string
	}{
		{"none", container.RestartPolicy{}, false, ""},
		{"no", container.RestartPolicy{Name: "no"}, true, ""},
		{"always", container.RestartPolicy{Name: "always"}, false, ""},
		{"on-failure with a count", container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, false, ""},
		{"unknown", container.RestartPolicy{Name: "sometimes"}, false, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{"count with always", container.RestartPolicy{Name: "always", MaximumRetryCount: 2}, false, "invalid restart policy: maximum retry count can only be used with 'on-failure'"},
		{"negative with unless-stopped", container.RestartPolicy{Name: "unless-stopped", MaximumRetryCount: -1}, false, "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"},
		{"negative count", container.RestartPolicy{Name: "on-failure", MaximumRetryCount: -1}, false, "invalid restart policy: maximum retry count cannot be negative"},
		{"with AutoRemove", container.RestartPolicy{Name: "always"}, true, "can't create 'AutoRemove' container with restart policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRestartPolicy(tc.policy, tc.autoRemove)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("CheckRestartPolicy = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestShouldRestart(t *testing.T) {
	onFailure2 := container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}
	for _, tc := range []struct {
		name     string
		policy   container.RestartPolicy
		code     int
		stopped  bool
		restarts int
		want     bool
	}{
		{"no", container.RestartPolicy{Name: "no"}, 1, false, 0, false},
		{"always after success", container.RestartPolicy{Name: "always"}, 0, false, 5, true},
		{"always stopped by hand (daemon start)", container.RestartPolicy{Name: "always"}, 0, true, 0, true},
		{"unless-stopped", container.RestartPolicy{Name: "unless-stopped"}, 0, false, 0, true},
		{"unless-stopped stopped by hand", container.RestartPolicy{Name: "unless-stopped"}, 0, true, 0, false},
		{"on-failure success", onFailure2, 0, false, 0, false},
		{"on-failure, retries left", onFailure2, 3, false, 1, true},
		{"on-failure, retries spent", onFailure2, 3, false, 2, false},
		{"on-failure unbounded", container.RestartPolicy{Name: "on-failure"}, 1, false, 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShouldRestart(tc.policy, tc.code, tc.stopped, tc.restarts); got != tc.want {
				t.Errorf("ShouldRestart = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	var b Backoff
	var got []time.Duration
	for range 12 {
		got = append(got, b.Next(time.Second))
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms, 25600 * ms, 51200 * ms, time.Minute, time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("back-off sequence %v, want %v", got, want)
		}
	}
	if d := b.Next(10 * time.Second); d != 100*ms {
		t.Errorf("after a run of 10 s the back-off is %v, want 100ms", d)
	}
}
