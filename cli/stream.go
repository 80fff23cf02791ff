package cli

import (
	"context"
	"errors"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/moby/term"
)

// defaultDetachKeys is ctrl-p ctrl-q.
var defaultDetachKeys = []byte{16, 17}

// attachIO says which local streams an attach session connects.
type attachIO struct {
	stdin      bool   // copy c.In to the container
	tty        bool   // raw stream (no multiplexing); raw local terminal when stdin is one
	detachKeys string // escape sequence in docker's notation; "" for ctrl-p,ctrl-q
	// noStdout and noStderr leave a stream out (run -a naming the others).
	noStdout, noStderr bool
}

// attach opens the hijacked attach connection to container id (stdout and
// stderr unless left out, stdin when o.stdin) and streams it as c.stream
// does.
func (c *Cli) attach(ctx context.Context, api *client.Client, id string, o attachIO) (<-chan error, error) {
	resp, err := api.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: o.stdin, Stdout: !o.noStdout, Stderr: !o.noStderr, DetachKeys: o.detachKeys,
	})
	if err != nil {
		return nil, err
	}
	done, err := c.stream(ctx, resp.HijackedResponse, o)
	if err != nil {
		resp.Close()
		return nil, err
	}
	return done, nil
}

// errDetached is returned when the user typed the detach sequence.
var errDetached = errors.New("detached")

// stream runs an attach session over the hijacked connection resp in the
// background and returns a channel that yields its end: nil once the output
// ended, errDetached after the detach sequence, or ctx's error. Without stdin
// the write side is half-closed at once; stdin is half-closed at its EOF. A
// local terminal used as stdin is raw for the session and restored before the
// channel yields.
func (c *Cli) stream(ctx context.Context, resp client.HijackedResponse, o attachIO) (<-chan error, error) {
	restore := func() {}
	in := c.In
	if o.stdin && o.tty {
		r, err := makeRaw(c.In)
		if err != nil {
			return nil, err
		}
		restore = r
		keys := defaultDetachKeys
		if o.detachKeys != "" {
			if k, err := term.ToBytes(o.detachKeys); err == nil {
				keys = k
			}
		}
		in = term.NewEscapeProxy(c.In, keys)
	}
	outputDone := make(chan error, 1)
	go func() {
		var err error
		if o.tty {
			_, err = io.Copy(c.Out, resp.Reader)
		} else {
			_, err = stdcopy.StdCopy(c.Out, c.Err, resp.Reader)
		}
		outputDone <- err
	}()
	inputDone := make(chan error, 1)
	go func() {
		if o.stdin {
			_, err := io.Copy(resp.Conn, in)
			if errors.As(err, new(term.EscapeError)) {
				inputDone <- errDetached
				return
			}
		}
		resp.CloseWrite()
		inputDone <- nil
	}()
	done := make(chan error, 1)
	go func() {
		err := waitStreams(ctx, outputDone, inputDone)
		restore()
		resp.Close()
		done <- err
	}()
	return done, nil
}

// waitStreams returns when the output ends, or the input ends with an error
// (detach), or ctx is done. Input ending normally keeps the output going.
func waitStreams(ctx context.Context, outputDone, inputDone <-chan error) error {
	select {
	case err := <-outputDone:
		return err
	case err := <-inputDone:
		if err != nil {
			return err
		}
		select {
		case err := <-outputDone:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}
