// Package serveraddr reads the registry addresses users and the docker CLI
// write (`docker login ADDRESS`, the keys of config.json's auths and of
// X-Registry-Config): the CLI, the daemon and the registry client must
// agree on which registry each names.
package serveraddr

import "strings"

// Hub is the host Host returns for Docker Hub.
const Hub = "docker.io"

// Host returns the registry host[:port] addr names: without its http:// or
// https:// scheme and its path, and Hub for "" and Docker Hub's other
// names (index.docker.io, registry-1.docker.io), as the docker CLI reads
// "https://index.docker.io/v1/". Case is kept. An address with a scheme
// and no host gives "".
func Host(addr string) string {
	if addr == "" {
		return Hub
	}
	host := strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	switch host {
	case "index.docker.io", "registry-1.docker.io":
		return Hub
	}
	return host
}
