package stream

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := WithContext(ctx, strings.NewReader("abcdef"))
	p := make([]byte, 3)
	if n, err := r.Read(p); n != 3 || err != nil {
		t.Fatalf("read before cancel = %d, %v", n, err)
	}
	cancel()
	if n, err := r.Read(p); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
}

func TestSource(t *testing.T) {
	broken := errors.New("broken")
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"read to its end", strings.NewReader("abc"), nil},
		{"failing", io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken)), broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &Source{R: tt.r}
			if _, err := io.Copy(io.Discard, src); err != tt.want || src.Err != tt.want {
				t.Errorf("copy = %v, Err = %v; want %v for both", err, src.Err, tt.want)
			}
		})
	}
}
