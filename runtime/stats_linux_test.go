package runtime

import (
	"strings"
	"testing"
)

func TestProcStatCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	const stat = `cpu  10 20 30 40 50 60 70 1000 2000 3000
cpu0 5 10 15 20 25 30 35 500 1000 1500
cpu1 5 10 15 20 25 30 35 500 1000 1500
intr 12345 0 0
ctxt 999
`
	total, cpus := procStatCPU(strings.NewReader(stat))
	// dockerd sums user..softirq: 280 ticks of 10 ms.
	if want := uint64(280 * 10_000_000); total != want || cpus != 2 {
		t.Errorf("procStatCPU = %d ns, %d CPUs; want %d ns, 2 CPUs", total, cpus, want)
	}
}
