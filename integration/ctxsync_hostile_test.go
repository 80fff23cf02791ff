package integration

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tonistiigi/fsutil/types"
)

// TestBuildContextSyncHostile plays a client of POST /build/sync that
// sends entries leaving the context, or leaves in the middle of the sync:
// gantryd answers the protocol's error packet naming the entry, writes
// nothing outside its copy and keeps no copy.
func TestBuildContextSyncHostile(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	sock := strings.TrimPrefix(e.Host, "unix://")
	key := strings.Repeat("5a", 32)
	now := time.Now().UnixNano()
	stat := func(p string, mode os.FileMode, link string) *types.Packet {
		return &types.Packet{Type: types.PACKET_STAT, Stat: &types.Stat{Path: p, Mode: uint32(mode), Linkname: link, ModTime: now}}
	}
	end := &types.Packet{Type: types.PACKET_STAT}
	for _, tc := range []struct {
		name    string
		packets []*types.Packet
		cut     bool
		want    string // in the error packet; "" when the client leaves
	}{
		{"dot-dot", []*types.Packet{stat("../../escaped", 0o644, ""), end}, false, `entry "../../escaped" leaves the build context`},
		{"absolute", []*types.Packet{stat("/etc/escaped", 0o644, ""), end}, false, `entry "/etc/escaped" is an absolute path`},
		{"hard link out", []*types.Packet{stat("h", 0o644, "../../../etc/passwd"), end}, false, `leaves the build context`},
		{"through a symlink", []*types.Packet{stat("l", os.ModeSymlink|0o777, "/"), stat("l/escaped", 0o644, ""), end}, false, "out of order"},
		{"leaves mid-sync", []*types.Packet{stat("d", os.ModeDir|0o755, ""), stat("d/f", 0o644, "")}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(commandTimeout))
			io.WriteString(c, "POST /build/sync?context="+key+" HTTP/1.1\r\nHost: gantry\r\nConnection: Upgrade\r\nUpgrade: gantry-context-sync\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			for _, p := range tc.packets {
				b, _ := p.MarshalVT()
				hdr := binary.BigEndian.AppendUint32(nil, uint32(len(b))+1)
				c.Write(append(hdr, b...))
			}
			if tc.cut {
				c.Close()
			} else {
				// The answer: the error packet, then the stream's error.
				var hdr [4]byte
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					t.Fatal(err)
				}
				b := make([]byte, binary.BigEndian.Uint32(hdr[:])-1)
				io.ReadFull(br, b)
				var p types.Packet
				if err := p.UnmarshalVT(b); err != nil || p.Type != types.PACKET_ERR || !strings.Contains(string(p.Data), tc.want) {
					t.Errorf("answer %v %q (%v), want an error packet with %q", p.Type, p.Data, err, tc.want)
				}
				rest, _ := io.ReadAll(br)
				if !strings.Contains(string(rest), `"errorDetail"`) {
					t.Errorf("after the error packet: %q, want the stream's error message", rest)
				}
			}
			if _, err := os.Lstat("/escaped"); err == nil {
				t.Fatalf("/escaped written")
			}
			if _, err := os.Lstat("/etc/escaped"); err == nil {
				t.Fatalf("/etc/escaped written")
			}
			poll(t, 10*time.Second, "no copy kept", func() (bool, string) {
				des, _ := os.ReadDir(filepath.Join(e.Root, "builder", "contexts"))
				var names []string
				for _, d := range des {
					names = append(names, d.Name())
				}
				return len(des) == 0, strings.Join(names, " ")
			})
		})
	}
}
