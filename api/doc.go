// Package api serves the Docker Engine API over HTTP: routes, hijacked streams,
// JSON message streams, and the one function that maps errors to status codes.
package api
