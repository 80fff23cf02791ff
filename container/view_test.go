package container

import (
	"reflect"
	"testing"
	"time"
)

// TestViewFields: View holds every persisted field of Container, with the
// same type, so that the copy made from the record misses nothing.
func TestViewFields(t *testing.T) {
	ct, vt := reflect.TypeOf(Container{}), reflect.TypeOf(View{})
	for i := range ct.NumField() {
		f := ct.Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		vf, ok := vt.FieldByName(f.Name)
		if !ok || vf.Type != f.Type {
			t.Errorf("View lacks Container's %s %s", f.Name, f.Type)
		}
	}
}

// TestViewWhileLocked: while a lifecycle operation holds Lock and changes
// the record, View answers at once with the record as of its last change;
// a state change or a Save publishes a new one, which later changes do not
// write into.
func TestViewWhileLocked(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer()
	if err := s.Add(c, "web"); err != nil {
		t.Fatal(err)
	}
	c.Lock()
	c.HostConfig.NetworkMode = "host" // a change in progress, not published yet
	done := make(chan *View)
	go func() { done <- c.View() }()
	var v *View
	select {
	case v = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("View waited for Lock")
	}
	if v.Name != "web" || v.State.Status != Created || v.HostConfig.NetworkMode != "" {
		t.Errorf("view during the operation = %+v, %+v, want the record before it", v.State, v.HostConfig.NetworkMode)
	}
	c.SetRunning(42)
	if got := c.View(); got.State.Status != Running || got.State.Pid != 42 || got.HostConfig.NetworkMode != "host" {
		t.Errorf("view after SetRunning = %+v", got.State)
	}
	if st := c.Snapshot(); st.Pid != 42 {
		t.Errorf("Snapshot().Pid = %d, want 42", st.Pid)
	}
	v = c.View()
	c.Config.Cmd[0] = "changed"
	c.SetExited(3, "")
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	c.Unlock()
	if v.Config.Cmd[0] != "true" || v.State.Status != Running {
		t.Errorf("a published view changed afterwards: %v %+v", v.Config.Cmd, v.State)
	}
	if got := c.View(); got.State.Status != Exited || got.State.ExitCode != 3 || got.Config.Cmd[0] != "changed" {
		t.Errorf("view after Save = %+v %v", got.State, got.Config.Cmd)
	}
	if err := s.Rename(c, "api"); err != nil {
		t.Fatal(err)
	}
	if got := c.View(); got.Name != "api" {
		t.Errorf("view after Rename: name %q", got.Name)
	}
}
