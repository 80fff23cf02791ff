package daemon

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// netDevStats reads the interface counters of pid's network namespace from
// /proc/<pid>/net/dev, loopback left out as dockerd does; nil when there is
// no other interface (or pid is gone).
func netDevStats(pid int) map[string]container.NetworkStats {
	if pid <= 0 {
		return nil
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseNetDev(bufio.NewScanner(f))
}

// parseNetDev parses /proc/net/dev: two header lines, then
// "name: rx-bytes rx-packets rx-errs rx-drop fifo frame compressed
// multicast tx-bytes tx-packets tx-errs tx-drop ...".
func parseNetDev(sc *bufio.Scanner) map[string]container.NetworkStats {
	var out map[string]container.NetworkStats
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if !ok || name == "lo" || len(f) < 12 {
			continue
		}
		n := func(i int) uint64 {
			v, _ := strconv.ParseUint(f[i], 10, 64)
			return v
		}
		if out == nil {
			out = map[string]container.NetworkStats{}
		}
		out[name] = container.NetworkStats{
			RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3),
			TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11),
		}
	}
	return out
}
