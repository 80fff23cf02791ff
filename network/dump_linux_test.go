package network

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestDumpRetriesInterrupted: an interrupted netlink dump is run again
// (gantryd failed to start when a veth went during its listing of links);
// one interrupted every time fails in the end.
func TestDumpRetriesInterrupted(t *testing.T) {
	calls := 0
	got, err := dump(func() ([]int, error) {
		if calls++; calls < 3 {
			return []int{1}, netlink.ErrDumpInterrupted
		}
		return []int{1, 2}, nil
	})
	if err != nil || len(got) != 2 || calls != 3 {
		t.Errorf("dump = %v, %v after %d calls; want the third, complete answer", got, err, calls)
	}
	calls = 0
	_, err = dump(func() ([]int, error) { calls++; return nil, netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || calls != 10 {
		t.Errorf("always interrupted: %v after %d calls", err, calls)
	}
}
