// Package cri is gantryd's Kubernetes node runtime: the CRI v1 runtime and
// image services (k8s.io/cri-api) on a unix socket of their own. Pods are
// sandboxes of namespaces (a pinned network namespace wired by CNI, a
// pause process holding the PID and IPC namespaces) and their containers
// are gantryd's containers, run through the same stores and monitors as
// the Docker API's.
package cri
