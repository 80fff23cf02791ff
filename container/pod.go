package container

// Pod links a container made through the CRI (package cri) to its pod
// sandbox: the namespaces it joins, the files it mounts and the log it
// writes, all owned by the sandbox or named by the kubelet. A container
// with a Pod gets no network of its own: its network mode is "none" or
// "host", and NetNS, when set, replaces the namespace "none" would make.
type Pod struct {
	SandboxID string
	// NetNS, IPCNS and PIDNS are the pod's namespaces ("" for the
	// host's, or a private one, as the network, IPC and PID modes say).
	NetNS, IPCNS, PIDNS string
	// CgroupParent is the pod's cgroup (cgroupfs), as the kubelet names it.
	CgroupParent string
	// Files bind-mounted at /etc/hosts, /etc/hostname and
	// /etc/resolv.conf ("" for none).
	HostsPath, HostnamePath, ResolvConfPath string
	// LogPath is the CRI-format log the kubelet reads ("" for none).
	LogPath string
}
