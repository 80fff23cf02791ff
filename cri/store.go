package cri

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gantry/gantry/internal/atomicfile"
)

// pod is the record of a pod sandbox, <root>/sandboxes/<id>.json.
type pod struct {
	ID        string
	Config    json.RawMessage // the PodSandboxConfig asked for (protojson)
	CreatedAt int64           // ns since the epoch
	Ready     bool            // false once stopped
	// NetNS is the pinned network namespace ("" with the host's network);
	// IPs are the addresses CNI gave it, the first one primary.
	NetNS string   `json:",omitempty"`
	IPs   []string `json:",omitempty"`
	// Networked is set from the CNI ADD to its DEL (at the pod's stop).
	Networked bool `json:",omitempty"`
	// PausePid is the pause process holding the PID and IPC namespaces (0
	// once stopped).
	PausePid int `json:",omitempty"`
	Dir      string
	// Cgroup is the pod's cgroup, its containers' parent (the kubelet's
	// cgroup_parent, or one gantry made: CgroupMade); the pause process
	// is in <Cgroup>/<ID> while the pod is ready.
	Cgroup     string `json:",omitempty"`
	CgroupMade bool   `json:",omitempty"`

	config *runtimeapi.PodSandboxConfig
	mu     sync.Mutex             // serialises stopping and removing the pod
	listed *runtimeapi.PodSandbox // its message in ListPodSandbox (listedPod), under mu
}

// key is what must be unique among the pods: the kubelet's name of a pod
// attempt.
func podKey(md *runtimeapi.PodSandboxMetadata) string {
	return fmt.Sprintf("%s_%s_%s_%d", md.GetName(), md.GetNamespace(), md.GetUid(), md.GetAttempt())
}

// podStore holds the pod records, in memory and on disk. Its methods are
// safe for concurrent use; a pod's fields are changed under Service.mu.
type podStore struct {
	dir  string
	mu   sync.Mutex
	pods map[string]*pod
}

func openPodStore(dir string) (*podStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st := &podStore{dir: dir, pods: map[string]*pod{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var p pod
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("pod record %s: %w", e.Name(), err)
		}
		p.config = &runtimeapi.PodSandboxConfig{}
		if err := protojson.Unmarshal(p.Config, p.config); err != nil {
			return nil, fmt.Errorf("pod record %s: %w", e.Name(), err)
		}
		st.pods[p.ID] = &p
	}
	return st, nil
}

// save writes p's record (atomically: the old one or the new one).
func (st *podStore) save(p *pod) error {
	if p.Config == nil {
		b, err := protojson.Marshal(p.config)
		if err != nil {
			return err
		}
		p.Config = b
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(st.dir, p.ID+".json"), b, 0o600); err != nil {
		return err
	}
	st.mu.Lock()
	st.pods[p.ID] = p
	st.mu.Unlock()
	return nil
}

func (st *podStore) remove(id string) error {
	if err := os.Remove(filepath.Join(st.dir, id+".json")); err != nil && !os.IsNotExist(err) {
		return err
	}
	st.mu.Lock()
	delete(st.pods, id)
	st.mu.Unlock()
	return nil
}

// get finds a pod by its ID or a unique prefix of it.
func (st *podStore) get(id string) (*pod, error) {
	if id == "" {
		return nil, invalid("pod sandbox id is empty")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if p := st.pods[id]; p != nil {
		return p, nil
	}
	var found *pod
	for pid, p := range st.pods {
		if strings.HasPrefix(pid, id) {
			if found != nil {
				return nil, invalid(fmt.Sprintf("pod sandbox id %q is ambiguous", id))
			}
			found = p
		}
	}
	if found == nil {
		return nil, notFound(fmt.Sprintf("an error occurred when try to find sandbox: not found: %s", id))
	}
	return found, nil
}

// byKey is the pod of a name attempt, or nil.
func (st *podStore) byKey(key string) *pod {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.pods {
		if podKey(p.config.GetMetadata()) == key {
			return p
		}
	}
	return nil
}

func (st *podStore) list() []*pod {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*pod, 0, len(st.pods))
	for _, p := range st.pods {
		out = append(out, p)
	}
	return out
}

// ready reports whether the pod is ready (not stopped).
func (p *pod) ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Ready
}
