package container

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
)

func TestExecsRemoveIdle(t *testing.T) {
	s := NewExecs()
	newExec := func(ctr string) *Exec {
		e := NewExec(ctr, container.ExecCreateRequest{Cmd: []string{"true"}})
		s.Add(e)
		return e
	}
	created := newExec("c1")
	starting := newExec("c1")
	must(t, starting.Begin())
	running := newExec("c1")
	must(t, running.Begin())
	running.SetRunning(42, nil)
	exited := newExec("c1")
	must(t, exited.Begin())
	exited.SetRunning(43, nil)
	exited.SetExited(0)
	other := newExec("c2")

	s.RemoveIdle("c1")
	kept := map[string]bool{}
	for name, e := range map[string]*Exec{"created": created, "starting": starting, "running": running, "exited": exited, "other container's": other} {
		_, err := s.Get(e.ID)
		kept[name] = err == nil
	}
	want := map[string]bool{"created": false, "starting": true, "running": true, "exited": false, "other container's": true}
	if diff := cmp.Diff(want, kept); diff != "" {
		t.Errorf("execs kept (-want +got):\n%s", diff)
	}
}
