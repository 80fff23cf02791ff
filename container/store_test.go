package container

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
)

func newContainer() *Container {
	return &Container{Created: time.Now(), Config: &container.Config{Cmd: []string{"true"}}, HostConfig: &container.HostConfig{}, State: State{Status: Created}}
}

func TestStoreNamesAndLookup(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := newContainer()
	if err := s.Add(a, "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(newContainer(), "/web"); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), `The container name "/web" is already in use`) {
		t.Errorf("duplicate name: error = %v, want conflict", err)
	}
	if err := s.Add(newContainer(), "bad name"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad name: error = %v, want invalid argument", err)
	}
	b := newContainer()
	if err := s.Add(b, ""); err != nil || b.Name == "" {
		t.Fatalf("generated name: %q, %v", b.Name, err)
	}
	for _, name := range []string{"web", "/web", a.ID, a.ID[:12]} {
		if got, err := s.Get(name); err != nil || got != a {
			t.Errorf("Get(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := s.Get("nope"); !errdefs.IsNotFound(err) || err.Error() != "No such container: nope" {
		t.Errorf("Get(nope) error = %v", err)
	}
	if err := s.Rename(a, "api"); err != nil {
		t.Fatal(err)
	}
	reloaded, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reloaded.Get("api")
	if err != nil || got.ID != a.ID {
		t.Fatalf("after reload Get(api) = %v, %v", got, err)
	}
	if err := reloaded.Delete(got); err != nil {
		t.Fatal(err)
	}
	if _, err := reloaded.Get("api"); !errdefs.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
}

func TestWaitConditions(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer()
	if err := s.Add(c, ""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	notRunning := c.Wait(ctx, container.WaitConditionNotRunning)
	if st := <-notRunning; st.Status != Created {
		t.Errorf("not-running on a created container: %v", st)
	}
	nextExit := c.Wait(ctx, container.WaitConditionNextExit)
	removed := c.Wait(ctx, container.WaitConditionRemoved)
	c.Lock()
	c.SetRunning(42)
	c.Unlock()
	select {
	case st := <-nextExit:
		t.Fatalf("next-exit fired on start: %v", st)
	case <-time.After(20 * time.Millisecond):
	}
	c.Lock()
	c.SetExited(3, "")
	c.Unlock()
	if st := <-nextExit; st.ExitCode != 3 {
		t.Errorf("next-exit code = %d, want 3", st.ExitCode)
	}
	if err := s.Delete(c); err != nil {
		t.Fatal(err)
	}
	if st := <-removed; st.ExitCode != 3 {
		t.Errorf("removed code = %d, want 3", st.ExitCode)
	}
}

func TestLogReadAndFollow(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer()
	if err := s.Add(c, ""); err != nil {
		t.Fatal(err)
	}
	c.Lock()
	c.SetRunning(1)
	c.Unlock()
	out := &lineWriter{log: c.Log, stream: "stdout"}
	out.Write([]byte("one\ntw"))
	out.Write([]byte("o\nthree"))
	c.Log.Write("stderr", []byte("err\n"), time.Now())

	read := func(opts ReadOptions) []string {
		var lines []string
		for m := range c.Log.Read(context.Background(), opts) {
			lines = append(lines, m.Stream+":"+string(m.Line))
		}
		return lines
	}
	if diff := cmp.Diff([]string{"stdout:one\n", "stdout:two\n", "stderr:err\n"}, read(ReadOptions{Stdout: true, Stderr: true, Tail: -1})); diff != "" {
		t.Errorf("all (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"stdout:two\n", "stderr:err\n"}, read(ReadOptions{Stdout: true, Stderr: true, Tail: 2})); diff != "" {
		t.Errorf("tail 2 (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"stderr:err\n"}, read(ReadOptions{Stderr: true, Tail: -1})); diff != "" {
		t.Errorf("stderr only (-want +got)\n%s", diff)
	}

	follow := c.Log.Read(context.Background(), ReadOptions{Stdout: true, Tail: 0, Follow: c.Wait(context.Background(), container.WaitConditionNotRunning)})
	time.Sleep(10 * time.Millisecond)
	out.Flush() // "three", a partial line at exit
	if m := <-follow; string(m.Line) != "three" {
		t.Errorf("followed line = %q, want three", m.Line)
	}
	c.Lock()
	c.SetExited(0, "")
	c.Unlock()
	if m, ok := <-follow; ok {
		t.Errorf("follow did not end after exit; got %q", m.Line)
	}
}
