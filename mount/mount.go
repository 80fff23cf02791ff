// Package mount describes filesystem mounts as values, so that the layer
// store can hand out mounts and the container and builder code can apply them.
package mount

import (
	"fmt"
	"strings"
)

// Mount is one mount(2) call: mount -t Type -o Options Source target.
// The target is chosen by whoever applies the mount.
type Mount struct {
	Type    string   // "overlay", "bind", "tmpfs", ...
	Source  string   // device or directory; "overlay" for overlay mounts
	Options []string // e.g. "lowerdir=a:b", "upperdir=u", "workdir=w", "rbind", "ro", "rprivate"
}

// String renders the mount the way mount(8) would be invoked, for logs and errors.
func (m Mount) String() string {
	return fmt.Sprintf("%s on <target> type %s (%s)", m.Source, m.Type, strings.Join(m.Options, ","))
}
