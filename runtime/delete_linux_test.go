package runtime

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestDeleteExited(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	id := "ctr-delete-exited"
	p, err := r.Run(ctx, id, testBundle(t, id, false, "/bin/true"), false, Stdio{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(r.root, id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		CgroupPaths map[string]string `json:"cgroup_paths"`
	}
	if err := json.Unmarshal(data, &st); err != nil || len(st.CgroupPaths) == 0 {
		t.Fatalf("runc state has no cgroup paths (%v): %s", err, data)
	}
	if _, err := r.Wait(ctx, p.Pid); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := r.DeleteExited(ctx, id); err != nil {
		t.Fatalf("DeleteExited: %v", err)
	}
	for name, path := range st.CgroupPaths {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("cgroup %q left at %s (%v)", name, path, err)
		}
	}
	if _, err := r.State(ctx, id); err == nil {
		t.Errorf("runc still knows %s after DeleteExited", id)
	}
	if err := r.DeleteExited(ctx, id); err != nil {
		t.Errorf("second DeleteExited: %v, want nil (idempotent)", err)
	}
}
