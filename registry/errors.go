package registry

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
)

// Error is a request a registry refused: the HTTP status and the first entry
// of the distribution error body ({"errors":[{"code","message","detail"}]}).
// Its text is the registry's words as Docker prints them ("manifest unknown:
// manifest unknown"), and errors.Is matches it to its errdefs class:
// MANIFEST_UNKNOWN, NAME_UNKNOWN and BLOB_UNKNOWN are ErrNotFound, refused
// credentials ErrUnauthenticated, a refusal without credentials or DENIED
// ErrPermissionDenied, 429 and 5xx ErrUnavailable.
type Error struct {
	StatusCode int
	Code       string // e.g. "MANIFEST_UNKNOWN"; empty when the body had none
	Message    string

	text  string
	class error
}

func (e *Error) Error() string { return e.text }

// Unwrap returns the errdefs class, so errdefs.IsNotFound and friends work.
func (e *Error) Unwrap() error { return e.class }

// Error codes of the distribution spec that change how an error is classed.
const (
	codeUnauthorized    = "UNAUTHORIZED"
	codeDenied          = "DENIED"
	codeManifestUnknown = "MANIFEST_UNKNOWN"
	codeNameUnknown     = "NAME_UNKNOWN"
	codeBlobUnknown     = "BLOB_UNKNOWN"
)

// deniedText is Docker's text for DENIED, which a refusal of an anonymous
// request becomes ("pull access denied for x, repository does not exist or
// may require 'docker login': denied: requested access to the resource is
// denied").
const deniedText = "denied: requested access to the resource is denied"

// errorBody is the distribution error body; Details is the older form token
// servers answer with ({"details":"incorrect username or password"}).
type errorBody struct {
	Errors []struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"errors"`
	Details string `json:"details"`
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// responseError turns a failed response into an *Error, reading (and not
// closing) its body. anonymous says no credentials were sent, which makes a
// 401 a permission problem rather than a refused password.
func responseError(resp *http.Response, anonymous bool) *Error {
	e := &Error{StatusCode: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body errorBody
	_ = json.Unmarshal(raw, &body)
	var texts []string
	for i, be := range body.Errors {
		if i == 0 {
			e.Code, e.Message = be.Code, be.Message
		}
		texts = append(texts, codeText(be.Code)+": "+be.Message)
	}
	switch {
	case len(texts) > 0:
		e.text = strings.Join(texts, "; ")
	case body.Details != "" && resp.StatusCode == http.StatusUnauthorized:
		e.Code, e.Message = codeUnauthorized, body.Details
		e.text = "unauthorized: " + body.Details
	case body.Details != "":
		e.Message, e.text = body.Details, body.Details
	case resp.StatusCode == http.StatusUnauthorized:
		e.Code, e.Message = codeUnauthorized, "authentication required"
		e.text = "unauthorized: authentication required"
	default:
		e.text = "received unexpected HTTP status: " + resp.Status
	}
	e.class = classOf(e, anonymous)
	if anonymous && errdefs.IsPermissionDenied(e.class) && e.Code != codeDenied {
		e.text = deniedText
	}
	return e
}

// codeText is how Docker prints an error code: MANIFEST_UNKNOWN -> "manifest
// unknown".
func codeText(code string) string {
	if code == "" {
		return "unknown"
	}
	return strings.ToLower(strings.ReplaceAll(code, "_", " "))
}

// classOf picks the errdefs class of a registry error from its code, then its
// status.
func classOf(e *Error, anonymous bool) error {
	switch e.Code {
	case codeManifestUnknown, codeNameUnknown, codeBlobUnknown:
		return errdefs.ErrNotFound
	case codeDenied:
		return errdefs.ErrPermissionDenied
	}
	switch s := e.StatusCode; {
	case s == http.StatusUnauthorized && anonymous:
		return errdefs.ErrPermissionDenied
	case s == http.StatusUnauthorized:
		return errdefs.ErrUnauthenticated
	case s == http.StatusForbidden:
		return errdefs.ErrPermissionDenied
	case s == http.StatusNotFound:
		return errdefs.ErrNotFound
	case s == http.StatusMethodNotAllowed:
		return errdefs.ErrNotImplemented
	case s == http.StatusTooManyRequests, s >= 500:
		return errdefs.ErrUnavailable
	case s >= 400:
		return errdefs.ErrInvalidArgument
	}
	return errdefs.ErrUnknown
}

// classed gives an error (a transport failure, a bad document) an errdefs
// class without changing its text.
type classed struct {
	err   error
	class error
}

func (c classed) Error() string   { return c.err.Error() }
func (c classed) Unwrap() []error { return []error{c.err, c.class} }

// dataLoss is a blob or manifest whose content does not match its digest.
func dataLoss(format string, args ...any) error {
	return errdefs.ErrDataLoss.WithMessage(fmt.Sprintf(format, args...))
}
