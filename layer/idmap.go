package layer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"

	"github.com/gantry/gantry/internal/atomicfile"
)

// SnapshotOption configures Prepare.
type SnapshotOption func(*snapshotOptions)

type snapshotOptions struct {
	idmap user.IdentityMapping
}

// WithIDMap prepares the snapshot for a container in a user namespace
// with mapping m: the layers below are idmapped mounts, so that their
// files, owned by container ids on disk, show with m's host ids (no layer
// is copied or chowned); the snapshot's own directory belongs to m's root
// and keeps host ids on disk, which Diff shifts back to container ids.
// The snapshot remembers m: a Prepare with another mapping (or none) is a
// conflict error, and View of it is not implemented. Needs overlay2 and
// Linux 6.8 (overlay layers one by one; see mount.OverlayLayersByOne);
// else a not-implemented error. An empty m is no mapping.
func WithIDMap(m user.IdentityMapping) SnapshotOption {
	return func(o *snapshotOptions) { o.idmap = m }
}

// idmapName is the file in a snapshot's directory that records its
// mapping; a snapshot without it has none.
const idmapName = "idmap.json"

func readIDMap(dir string) (user.IdentityMapping, error) {
	var m user.IdentityMapping
	b, err := os.ReadFile(filepath.Join(dir, idmapName))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, idmapName), err)
	}
	return m, nil
}

// recordIDMap makes m the mapping of the snapshot in dir, which exists
// (exists) or is about to be made. An existing snapshot keeps its mapping:
// asking for another is a conflict.
func recordIDMap(dir string, m user.IdentityMapping, exists bool) error {
	old, err := readIDMap(dir)
	if err != nil {
		return err
	}
	if sameIDMap(old, m) {
		return nil
	}
	if exists {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("snapshot in %s was made for user namespace mapping %s, not %s", dir, describeIDMap(old), describeIDMap(m)))
	}
	if m.Empty() {
		return os.Remove(filepath.Join(dir, idmapName))
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, idmapName), b, 0o600)
}

func sameIDMap(a, b user.IdentityMapping) bool {
	return slices.Equal(a.UIDMaps, b.UIDMaps) && slices.Equal(a.GIDMaps, b.GIDMaps)
}

// describeIDMap is m for messages: "uids 0:100000:65536 gids ...", or
// "none".
func describeIDMap(m user.IdentityMapping) string {
	if m.Empty() {
		return "none"
	}
	return "uids " + idMapOption(m.UIDMaps) + " gids " + idMapOption(m.GIDMaps)
}

// idMapOption is ranges in the syntax of mount's uidmap= and gidmap=
// options: container:host:size, comma separated.
func idMapOption(ranges []user.IDMap) string {
	var parts []string
	for _, r := range ranges {
		parts = append(parts, strconv.FormatInt(r.ID, 10)+":"+strconv.FormatInt(r.ParentID, 10)+":"+strconv.FormatInt(r.Count, 10))
	}
	return strings.Join(parts, ",")
}
