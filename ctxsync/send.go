package ctxsync

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"
)

// Key is the name a client gives its context on the server: the SHA-256
// of the machine's identity and the context's absolute path, as buildx's
// shared key, so that each checkout on each client has a copy of its own
// and builds of it send only what changed since the last one.
func Key(absDir string) string {
	host, _ := os.ReadFile("/etc/machine-id")
	if len(host) == 0 {
		h, _ := os.Hostname()
		host = []byte(h)
	}
	sum := sha256.Sum256([]byte(string(host) + "\x00" + absDir))
	return hex.EncodeToString(sum[:])
}

// ValidKey reports whether key has Key's form (64 lowercase hex digits);
// anything else is an invalid-argument error, so that a key never names
// a path.
func ValidKey(key string) error {
	if len(key) != 64 {
		return invalid("context key %q is not 64 hex digits", key)
	}
	for _, c := range key {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return invalid("context key %q is not 64 hex digits", key)
		}
	}
	return nil
}

// Send sends the directory dir over rw (the connection to gantryd, after
// the upgrade) as the sender of fsutil's protocol: entries excluded by
// the .dockerignore patterns excludes are left out, and sockets; owners
// are 0:0 and extended attributes dropped (as BuildKit's client sends a
// context). It
// returns once the server has what it asked for and this side of the
// stream is ended; what the server writes after that (the build's
// output) is read from the returned reader.
func Send(ctx context.Context, rw io.ReadWriter, dir string, excludes []string) (io.Reader, error) {
	base, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, err
	}
	fs, err := fsutil.NewFilterFS(base, &fsutil.FilterOpt{
		ExcludePatterns: excludes,
		Map: func(_ string, st *types.Stat) fsutil.MapResult {
			if os.FileMode(st.Mode)&os.ModeSocket != 0 {
				return fsutil.MapResultExclude
			}
			st.Uid, st.Gid, st.Xattrs = 0, 0, nil
			return fsutil.MapResultKeep
		},
	})
	if err != nil {
		return nil, fmt.Errorf("context filter: %w", err)
	}
	br := bufio.NewReaderSize(rw, 256<<10)
	s := newStream(ctx, br, rw)
	if err := fsutil.Send(ctx, s, fs, nil); err != nil {
		return nil, err
	}
	if err := s.closeSend(); err != nil {
		return nil, err
	}
	return br, nil
}
