package api

import (
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

// jsonStream writes a JSON-message stream (build, pull, push, load, import):
// 200 with Content-Type application/json, then one JSON object per message
// terminated by CRLF and flushed at once. Once the first message is written
// the status is fixed, so later failures go through Error as a message.
// It is not safe for concurrent use.
type jsonStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newJSONStream(w http.ResponseWriter) *jsonStream {
	return &jsonStream{w: w, rc: http.NewResponseController(w)}
}

// streamMessage adds the legacy "error" text that clients such as the
// Python SDK look for beside errorDetail, and the legacy "progress" bar that
// dockerd renders beside progressDetail.
type streamMessage struct {
	jsonstream.Message
	ProgressMessage string `json:"progress,omitempty"`
	ErrorMessage    string `json:"error,omitempty"`
}

// Started reports whether the headers are out; before that, a failure can
// still be answered with writeError.
func (s *jsonStream) Started() bool { return s.started }

// Write sends one message, writing the 200 headers first if needed. Its
// error means the client is gone.
func (s *jsonStream) Write(m jsonstream.Message) error {
	sm := streamMessage{Message: m}
	if m.Progress != nil {
		sm.ProgressMessage = jsonmessage.RenderTUIProgress(*m.Progress, progressWidth)
	}
	return s.write(sm)
}

// progressWidth is the terminal width dockerd renders progress bars for:
// wide enough for the bar, too narrow for the time estimate to matter.
const progressWidth = 111

// Error sends err as the stream's error message: errorDetail.message and
// error carry its text, errorDetail.code carries code (the docker CLI exits
// with it when it is not zero).
func (s *jsonStream) Error(err error, code int) error {
	return s.write(streamMessage{
		Message:      jsonstream.Message{Error: &jsonstream.Error{Code: code, Message: err.Error()}},
		ErrorMessage: err.Error(),
	})
}

func (s *jsonStream) write(m streamMessage) error {
	if !s.started {
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(append(b, '\r', '\n')); err != nil {
		return err
	}
	return s.rc.Flush()
}
