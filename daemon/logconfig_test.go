package daemon

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
)

// TestDefaultLogConfig: as dockerd's mergeAndVerifyLogConfig: no driver
// takes gantryd's, and gantryd's options fill in under its own driver only.
func TestDefaultLogConfig(t *testing.T) {
	d := &Daemon{cfg: Config{LogDriver: "json-file", LogOpts: map[string]string{"max-size": "10m", "max-file": "3"}}}
	for _, tc := range []struct {
		in, want container.LogConfig
	}{
		{container.LogConfig{}, container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}}},
		{container.LogConfig{Config: map[string]string{"max-size": "1m"}}, container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m", "max-file": "3"}}},
		{container.LogConfig{Type: "none"}, container.LogConfig{Type: "none"}},
	} {
		if d := cmp.Diff(tc.want, d.defaultLogConfig(tc.in)); d != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.in, d)
		}
	}
	d = &Daemon{cfg: Config{LogDriver: "none"}}
	if got := d.defaultLogConfig(container.LogConfig{}); got.Type != "none" {
		t.Errorf("default driver none: %+v", got)
	}
	if got := (&Daemon{}).defaultLogConfig(container.LogConfig{}); got.Type != "json-file" || got.Config != nil {
		t.Errorf("no default: %+v", got)
	}
}
