package builder

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// resolveChown turns a --chown value (user[:group], names or numbers) into
// numeric IDs, looking names up in the rootfs's /etc/passwd and /etc/group.
// "" is 0:0; a user without group takes the user's numeric ID as the GID,
// as Docker does.
func resolveChown(rootfs, chown string) (int, int, error) {
	if chown == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(chown, ":")
	uid, err := lookupID(rootfs, "/etc/passwd", u)
	if err != nil {
		return 0, 0, err
	}
	gid := uid
	if hasGroup {
		if gid, err = lookupID(rootfs, "/etc/group", g); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// lookupID finds name in a passwd-format file (name:x:id:...), or parses it
// as a number.
func lookupID(rootfs, file, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	data, err := readFileInRoot(rootfs, file)
	if err != nil {
		return 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to find user %s: no matching entries in %s", name, file))
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			if n, err := strconv.Atoi(f[2]); err == nil {
				return n, nil
			}
		}
	}
	what := "user"
	if strings.HasSuffix(file, "group") {
		what = "group"
	}
	return 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to find %s %s: no matching entries in %s file", what, name, strings.TrimPrefix(file, "/etc/")))
}
