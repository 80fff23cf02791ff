package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gantry/gantry/internal/limit"
)

// errBodyTooLarge is the error (413) for a JSON request body larger than
// limit.Document.
var errBodyTooLarge = errors.New("request body is larger than the limit of " + limit.Text)

// drainTooLarge is how much of a body over the limit is read and dropped
// before the answer: Docker's clients write the whole body before they
// read, and would see a broken pipe instead of the 413 if the connection
// closed under them. Past that the connection is closed.
const drainTooLarge = 1 << 30

// readJSON decodes the JSON request body into v, holding at most
// limit.Document bytes of it: a larger body is errBodyTooLarge (what
// follows is dropped, see drainTooLarge, and the connection closed after
// the answer). An empty body is io.EOF; what follows the value stays
// unread, under the same bound.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := r.Body
	r.Body = http.MaxBytesReader(w, body, limit.Document)
	err := json.NewDecoder(r.Body).Decode(v)
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		_, _ = io.CopyN(io.Discard, body, drainTooLarge)
		return errBodyTooLarge
	}
	return err
}

// badJSON is the answer to a body readJSON could not decode: an
// invalid-argument error saying what the body was, or errBodyTooLarge as
// it is.
func badJSON(what string, err error) error {
	if errors.Is(err, errBodyTooLarge) {
		return err
	}
	return invalidf("%s: %v", what, err)
}
