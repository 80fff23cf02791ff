package cri

import (
	"context"
	"errors"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// statusOf is the one place an error becomes a gRPC status: its errdefs
// class gives the code containerd's CRI returns for it.
func statusOf(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errdefs.IsNotFound(err):
		code = codes.NotFound
	case errdefs.IsAlreadyExists(err):
		code = codes.AlreadyExists
	case errdefs.IsInvalidArgument(err):
		code = codes.InvalidArgument
	case errdefs.IsFailedPrecondition(err), errdefs.IsConflict(err):
		code = codes.FailedPrecondition
	case errdefs.IsNotImplemented(err):
		code = codes.Unimplemented
	case errdefs.IsUnavailable(err):
		code = codes.Unavailable
	case errdefs.IsPermissionDenied(err):
		code = codes.PermissionDenied
	case errdefs.IsResourceExhausted(err):
		code = codes.ResourceExhausted
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

func invalid(msg string) error  { return errdefs.ErrInvalidArgument.WithMessage(msg) }
func notFound(msg string) error { return errdefs.ErrNotFound.WithMessage(msg) }
func unimplemented(msg string) error {
	return errdefs.ErrNotImplemented.WithMessage(msg + " is not supported by gantry yet")
}

func alreadyExists(msg string) error { return errdefs.ErrAlreadyExists.WithMessage(msg) }
func isNotFound(err error) bool      { return errdefs.IsNotFound(err) }
func isNotModified(err error) bool   { return errdefs.IsNotModified(err) }

func failedPrecondition(msg string) error { return errdefs.ErrFailedPrecondition.WithMessage(msg) }
func unavailable(msg string) error        { return errdefs.ErrUnavailable.WithMessage(msg) }
