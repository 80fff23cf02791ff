package container

import (
	"encoding/json"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/opencontainers/go-digest"
)

// View is a container's record as of its last change: a deep copy made
// under Lock at each state change (notify) and each Save, and never written
// after. Reads (ps, inspect, info) take the newest View without Lock, so a
// start, stop or copy that holds Lock across mounting, networking and runc
// never makes them wait; moby keeps a read-only replica, its ViewDB, for
// the same purpose. Its fields are the persisted fields of Container (a
// test keeps them in step).
type View struct {
	ID         string
	Name       string
	Created    time.Time
	Image      string
	ImageID    digest.Digest
	Chain      digest.Digest
	Config     *container.Config
	HostConfig *container.HostConfig
	State      State
	Volumes    []VolumeMount                        `json:",omitempty"`
	Networks   map[string]*network.EndpointSettings `json:",omitempty"`
	Ports      network.PortMap                      `json:",omitempty"`

	MACs            map[string]string `json:",omitempty"`
	RestartCount    int               `json:",omitempty"`
	ManuallyStopped bool              `json:",omitempty"`
	Pod             *Pod              `json:",omitempty"`
}

// View returns the newest View of c. It never waits for Lock.
func (c *Container) View() *View { return c.view.Load() }

// publish makes a new View of c from record, c's persisted form (the
// bytes Save writes), or from a fresh encoding when record is nil. The
// caller holds Lock (or owns c alone, while it is loaded or created).
func (c *Container) publish(record []byte) {
	if record == nil {
		var err error
		if record, err = json.Marshal(c); err != nil {
			return // the previous view stays; Save reports the error
		}
	}
	v := &View{}
	if err := json.Unmarshal(record, v); err != nil {
		return
	}
	c.view.Store(v)
}

// Args is the process's command line: Entrypoint then Cmd.
func (v *View) Args() []string {
	return append(append([]string(nil), v.Config.Entrypoint...), v.Config.Cmd...)
}
