package daemon

import (
	"bufio"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
)

func TestParsePSOutput(t *testing.T) {
	out := `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         100       1  0 10:01 ?        00:00:00 sleep 600
root           -       -  0 10:01 ?        00:00:00 -
root         200     100  0 10:02 pts/0    00:00:00 sh -c echo  two  spaces
root         300       1  0 10:02 ?        00:00:00 other
root           -       -  0 10:02 ?        00:00:00 -
`
	got, err := parsePSOutput([]byte(out), []int{100, 200})
	if err != nil {
		t.Fatal(err)
	}
	want := &container.TopResponse{
		Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
		Processes: [][]string{
			{"root", "100", "1", "0", "10:01", "?", "00:00:00", "sleep 600"},
			{"root", "-", "-", "0", "10:01", "?", "00:00:00", "-"}, // a thread of 100
			{"root", "200", "100", "0", "10:02", "pts/0", "00:00:00", "sh -c echo two spaces"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsePSOutput (-want +got):\n%s", diff)
	}
	if _, err := parsePSOutput([]byte("UID CMD\nroot x\n"), nil); err == nil {
		t.Error("output without a PID column: no error")
	}
}

func TestValidatePSArgs(t *testing.T) {
	for args, ok := range map[string]bool{"-ef": true, "-o pid=PID": true, "-o pid,comm": true, "-o user=PID": false} {
		if err := validatePSArgs(args); (err == nil) != ok {
			t.Errorf("validatePSArgs(%q) = %v", args, err)
		}
	}
}

func TestParseNetDev(t *testing.T) {
	in := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    1234      10    1    2    0     0          0         0     5678      20    3    4    0     0       0          0
`
	got := parseNetDev(bufio.NewScanner(strings.NewReader(in)))
	want := map[string]container.NetworkStats{"eth0": {RxBytes: 1234, RxPackets: 10, RxErrors: 1, RxDropped: 2, TxBytes: 5678, TxPackets: 20, TxErrors: 3, TxDropped: 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseNetDev (-want +got):\n%s", diff)
	}
}
