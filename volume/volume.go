package volume

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/containerd/errdefs"
)

// Driver is the only volume driver: volumes are directories on the host.
const Driver = "local"

// AnonymousLabel marks the volumes created for a container without a name,
// as Docker 23+ does; prune removes only these unless told "all".
const AnonymousLabel = "com.docker.volume.anonymous"

// Volume is one volume's metadata. Values returned by the Store are copies:
// changing them changes nothing stored.
type Volume struct {
	Name      string
	Driver    string
	CreatedAt time.Time
	Labels    map[string]string `json:",omitempty"`
	Options   map[string]string `json:",omitempty"`
	// Anonymous volumes were created for a container (an image's VOLUME,
	// `-v /path`); `rm -v`, `run --rm` and a plain prune remove them.
	Anonymous bool `json:",omitempty"`

	dir string // <root>/<name>
}

// Mountpoint is the host directory holding the volume's data.
func (v *Volume) Mountpoint() string { return filepath.Join(v.dir, "_data") }

// validName is Docker's rule for local volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// maxNameLen is the longest volume name: the name of its directory.
const maxNameLen = 255

// checkName returns Docker's errors for names the local driver refuses,
// and for a name longer than a directory name can be (dockerd fails to
// make the directory then, with a 500) the same kind of 400.
func checkName(name string) error {
	if len(name) > maxNameLen {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("create %s: volume name is too long, names should be at most %d characters", name, maxNameLen))
	}
	if len(name) == 1 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("create %s: volume name is too short, names should be at least two alphanumeric characters", name))
	}
	if !validName.MatchString(name) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("create %s: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", name, name, "[a-zA-Z0-9][a-zA-Z0-9_.-]"))
	}
	return nil
}

// checkOptions accepts the local driver's option keys (type, device, o,
// size) only to say they are not supported: gantry's volumes are plain
// directories. Other keys get Docker's error.
func checkOptions(name string, opts map[string]string) error {
	for k := range opts {
		switch k {
		case "type", "device", "o", "size":
			return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("create %s: volume option %q is not supported by gantry yet: volumes are plain directories", name, k))
		default:
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("create %s: invalid option: %q", name, k))
		}
	}
	return nil
}

// Size returns the bytes of file content in the volume's data, counting
// hard-linked files once.
func (v *Volume) Size() (int64, error) { return dirSize(v.Mountpoint()) }
