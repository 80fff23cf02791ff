package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// resolveChown turns a --chown value (user[:group], names or numbers) into
// numeric IDs, looking names up in the rootfs's /etc/passwd and /etc/group.
// "" is 0:0; a user without group names the group too, as dockerd's
// classic builder reads it (`--chown=app` is app:app). Errors are
// invalid-argument errors in dockerd's words: `unable to convert uid/gid
// chown string to host mapping: can't find gid for group app: no such
// group: app`.
func resolveChown(rootfs, chown string) (int, int, error) {
	if chown == "" {
		return 0, 0, nil
	}
	parts := strings.Split(chown, ":")
	if len(parts) > 2 {
		return 0, 0, errdefs.ErrInvalidArgument.WithMessage("invalid chown string format: " + chown)
	}
	u, g := parts[0], parts[0]
	if len(parts) == 2 {
		g = parts[1]
	}
	fail := func(err error) (int, int, error) {
		return 0, 0, errdefs.ErrInvalidArgument.WithMessage("unable to convert uid/gid chown string to host mapping: " + err.Error())
	}
	uid, err := lookupID(rootfs, "/etc/passwd", u)
	if err != nil {
		return fail(fmt.Errorf("can't find uid for user %s: %w", u, err))
	}
	gid, err := lookupID(rootfs, "/etc/group", g)
	if err != nil {
		return fail(fmt.Errorf("can't find gid for group %s: %w", g, err))
	}
	return uid, gid, nil
}

// lookupID finds name in a passwd-format file (name:x:id:...), or parses it
// as a number.
func lookupID(rootfs, file, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative ID %d", n)
		}
		return n, nil
	}
	data, err := readFileInRoot(rootfs, file)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("open %s: no such file or directory", file)
	} else if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			if n, err := strconv.Atoi(f[2]); err == nil {
				return n, nil
			}
		}
	}
	if strings.HasSuffix(file, "group") {
		return 0, errors.New("no such group: " + name)
	}
	return 0, errors.New("no such user: " + name)
}
