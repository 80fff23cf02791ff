package transfer

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestMeter: whatever the pace of the reads, the first report comes with
// the first read, the counts grow, and the full count is reported once,
// by the read that ends the stream or by Flush.
func TestMeter(t *testing.T) {
	tests := []struct {
		name    string
		consume func(r io.Reader) error
	}{
		{"read to the end", func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }},
		{"stop at the length", func(r io.Reader) error { _, err := io.ReadFull(r, make([]byte, 10)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reports []int64
			m := NewMeter(iotest.OneByteReader(strings.NewReader("0123456789")), func(n int64) { reports = append(reports, n) })
			if err := tt.consume(m); err != nil {
				t.Fatal(err)
			}
			m.Flush()
			m.Flush()
			if len(reports) < 2 || reports[0] != 1 {
				t.Fatalf("reports %v, want the first read's 1 first and the full count", reports)
			}
			for i := 1; i < len(reports); i++ {
				if reports[i] <= reports[i-1] {
					t.Errorf("reports %v: not growing", reports)
				}
			}
			if last := reports[len(reports)-1]; last != 10 {
				t.Errorf("reports %v, want 10 last", reports)
			}
		})
	}
}

func TestSlots(t *testing.T) {
	s := NewSlots(1)
	ctx := context.Background()
	if err := s.Acquire(ctx, func() { t.Error("waiting with a free slot") }); err != nil {
		t.Fatal(err)
	}

	waiting := make(chan struct{})
	acquired := make(chan error)
	go func() { acquired <- s.Acquire(ctx, func() { close(waiting) }) }()
	<-waiting // told to wait before the slot is free
	s.Release()
	if err := <-acquired; err != nil {
		t.Fatalf("acquire once released: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	go func() { acquired <- s.Acquire(cctx, nil) }()
	cancel()
	if err := <-acquired; !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire cancelled while waiting: %v, want context.Canceled", err)
	}
	s.Release()
	if err := s.Acquire(ctx, func() { t.Error("waiting after the only holder released") }); err != nil {
		t.Fatal(err)
	}
}
