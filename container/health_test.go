package container

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
)

func TestCheckHealthcheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    *container.HealthConfig
		want string
	}{
		{"none", nil, ""},
		{"defaults", &container.HealthConfig{Test: []string{"CMD", "true"}}, ""},
		{"1ms", &container.HealthConfig{Interval: time.Millisecond}, ""},
		{"interval", &container.HealthConfig{Interval: 500 * time.Microsecond}, "Interval in Healthcheck cannot be less than 1ms"},
		{"timeout", &container.HealthConfig{Timeout: time.Microsecond}, "Timeout in Healthcheck cannot be less than 1ms"},
		{"start period", &container.HealthConfig{StartPeriod: time.Nanosecond}, "StartPeriod in Healthcheck cannot be less than 1ms"},
		{"start interval", &container.HealthConfig{StartInterval: time.Nanosecond}, "StartInterval in Healthcheck cannot be less than 1ms"},
		{"retries", &container.HealthConfig{Retries: -1}, "Retries in Healthcheck cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := CheckHealthcheck(tc.h); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("CheckHealthcheck = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHealthProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  container.Config
		want []string
	}{
		{"none", container.Config{}, nil},
		{"NONE", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}, nil},
		{"CMD", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "curl", "-f", "x"}}}, []string{"curl", "-f", "x"}},
		{"CMD-SHELL", container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "test -e /ok"}}}, []string{"/bin/sh", "-c", "test -e /ok"}},
		{"SHELL", container.Config{Shell: []string{"/bin/ash", "-e", "-c"}, Healthcheck: &container.HealthConfig{Test: []string{"CMD-SHELL", "true"}}}, []string{"/bin/ash", "-e", "-c", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, HealthProbe(&tc.cfg)); diff != "" {
				t.Errorf("HealthProbe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyProbe(t *testing.T) {
	started := time.Now()
	tm := Timing(&container.HealthConfig{Retries: 2, StartPeriod: time.Minute})
	h := &container.Health{Status: container.Starting}
	fail := func(at time.Time) *container.HealthcheckResult {
		return &container.HealthcheckResult{Start: at, ExitCode: 1}
	}
	// Failures within the start period do not count while starting.
	tm.ApplyProbe(h, fail(started), started)
	tm.ApplyProbe(h, fail(started), started)
	if h.Status != container.Starting || h.FailingStreak != 0 {
		t.Fatalf("within the start period: %s streak %d", h.Status, h.FailingStreak)
	}
	tm.ApplyProbe(h, &container.HealthcheckResult{Start: started}, started)
	if h.Status != container.Healthy {
		t.Fatalf("after a success: %s", h.Status)
	}
	tm.ApplyProbe(h, fail(started), started) // healthy: counts even in the start period
	if h.Status != container.Healthy || h.FailingStreak != 1 {
		t.Fatalf("one failure: %s streak %d", h.Status, h.FailingStreak)
	}
	tm.ApplyProbe(h, fail(started), started)
	if h.Status != container.Unhealthy || h.FailingStreak != 2 {
		t.Fatalf("two failures: %s streak %d", h.Status, h.FailingStreak)
	}
	for range 10 {
		tm.ApplyProbe(h, fail(started), started)
	}
	if len(h.Log) != HealthMaxLog {
		t.Errorf("log keeps %d results, want %d", len(h.Log), HealthMaxLog)
	}
	if got := HealthText(&container.Health{Status: container.Starting}); got != "health: starting" {
		t.Errorf("HealthText = %q", got)
	}
	if d := tm.NextProbe(&container.Health{Status: container.Starting}, started); d != HealthDefaultStartInterval {
		t.Errorf("NextProbe while starting in the start period = %v", d)
	}
	if d := tm.NextProbe(&container.Health{Status: container.Healthy}, started); d != HealthDefaultInterval {
		t.Errorf("NextProbe when healthy = %v", d)
	}
}
