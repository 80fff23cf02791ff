package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/gantry/gantry/internal/serveraddr"
)

// Login checks auth against the registry auth.ServerAddress names (Docker
// Hub when empty; a scheme and path are ignored, as the CLI sends
// "https://index.docker.io/v1/") and returns the identity token the token
// server issued, if any, for the CLI to store instead of the password.
// Refused credentials are errdefs.ErrUnauthenticated with Docker's words:
// `Get "https://host/v2/": unauthorized: ...` when the token server refuses
// them, "login attempt to https://host/v2/ failed with status: 401
// Unauthorized" when the registry does.
func (c *Client) Login(ctx context.Context, auth Auth) (string, error) {
	host, err := loginHost(auth.ServerAddress)
	if err != nil {
		return "", err
	}
	ep, err := c.origin(ctx, host)
	if err != nil {
		return "", err
	}
	s := &session{c: c, ep: ep, auth: auth, offline: true}
	req, err := s.newRequest(ctx, http.MethodGet, "/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := s.do(req)
	var rerr *Error
	if errors.As(err, &rerr) {
		return "", classed{fmt.Errorf("Get %q: %w", req.URL, err), rerr.class}
	}
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", classed{fmt.Errorf("login attempt to %s failed with status: %s", req.URL, resp.Status), s.fail(resp).class}
	}
	return s.refreshToken, nil
}

// loginHost is the registry host a login's server address names.
func loginHost(addr string) (string, error) {
	host := serveraddr.Host(addr)
	if host == "" || strings.ContainsAny(host, " \t@") {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid registry address %q", addr))
	}
	return registryHost(strings.ToLower(host)), nil
}
