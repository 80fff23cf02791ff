package container

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSpecInit: with an init, PID 1 is /sbin/docker-init running the
// command after "--", and the binary is bind-mounted read-only there.
func TestSpecInit(t *testing.T) {
	in := specTestInput(t.TempDir())
	in.Config.Entrypoint = []string{"sleep"}
	in.Config.Cmd = []string{"300"}
	in.InitPath = "/usr/bin/tini-static"
	spec, err := Spec(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/sbin/docker-init", "--", "sleep", "300"}, spec.Process.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	want := specs.Mount{Destination: "/sbin/docker-init", Type: "bind", Source: "/usr/bin/tini-static", Options: []string{"bind", "ro"}}
	if !slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool { return cmp.Equal(m, want) }) {
		t.Errorf("no mount %+v in %+v", want, spec.Mounts)
	}
	in.InitPath = ""
	if spec, _ := Spec(in); spec.Process.Args[0] != "sleep" {
		t.Errorf("without an init, args %v", spec.Process.Args)
	}
}
