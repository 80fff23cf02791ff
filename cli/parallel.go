package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxParallel bounds how many per-container requests run at once.
const maxParallel = 50

// forEachParallel calls op for every name concurrently and returns the
// errors in the order of names.
func forEachParallel(ctx context.Context, names []string, op func(ctx context.Context, name string) error) []error {
	errs := make([]error, len(names))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = op(ctx, name)
		}()
	}
	wg.Wait()
	return errs
}

// errSkipped marks an operation whose failure was already reported and must
// neither print the name nor fail the command.
var errSkipped = errors.New("skipped")

// reportEach prints, in order, each name whose operation succeeded and joins
// the errors of the others, leaving out errSkipped.
func reportEach(out io.Writer, names []string, errs []error) error {
	var failed []error
	for i, name := range names {
		if errors.Is(errs[i], errSkipped) {
			continue
		}
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		fmt.Fprintln(out, name)
	}
	return errors.Join(failed...)
}
