package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/common"
)

// statusOf is the one place where an error becomes an HTTP status. The class
// comes from github.com/containerd/errdefs; the mapping follows dockerd
// (FailedPrecondition is 400 there, through its gRPC mapping). Errors without
// a class are 500.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err), errdefs.IsFailedPrecondition(err):
		return http.StatusBadRequest
	case errdefs.IsConflict(err), errdefs.IsAlreadyExists(err):
		return http.StatusConflict
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsPermissionDenied(err):
		return http.StatusForbidden
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers a request that has not written anything yet: the status
// from statusOf and the body {"message":"<err>"} as application/json. A 304
// has no body.
func writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, common.ErrorResponse{Message: err.Error()})
}

// writeJSON answers with status and v encoded by encoding/json (one line, LF
// terminated, <, > and & as they are, not \u003c..., as dockerd).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// invalidf returns an invalid-argument error (400) with the formatted text.
func invalidf(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// errPageNotFound answers unknown routes and wrong methods, as dockerd's router.
var errPageNotFound = errdefs.ErrNotFound.WithMessage("page not found")
