package cli

import (
	"io"

	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
)

// displayJSONStream renders a JSON-message stream (pull, import) to out, with
// progress bars only when out is a terminal; it returns the stream's error
// message, if any, as a *jsonstream.Error.
func displayJSONStream(in io.Reader, out io.Writer) error {
	fd, isTerm := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(in, out, fd, isTerm, nil)
}
