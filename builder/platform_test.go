package builder

import (
	goruntime "runtime"
	"testing"

	"github.com/containerd/errdefs"
)

func TestCheckPlatform(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform string
		ok       bool
	}{
		{name: "none", platform: "", ok: true},
		{name: "os only", platform: "linux", ok: true},
		{name: "this arch", platform: "linux/" + goruntime.GOARCH, ok: true},
		{name: "other arch", platform: "linux/s390x", ok: false},
		{name: "other os", platform: "windows/" + goruntime.GOARCH, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPlatform(tc.platform)
			if tc.ok && err != nil {
				t.Errorf("checkPlatform(%q) = %v, want nil", tc.platform, err)
			}
			if !tc.ok && !errdefs.IsInvalidArgument(err) {
				t.Errorf("checkPlatform(%q) = %v, want invalid argument", tc.platform, err)
			}
		})
	}
}
