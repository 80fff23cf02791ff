// Package monitor is the process that watches over one container, in the
// spirit of Podman's conmon and containerd's runc shim: the child
// subreaper parent of its init, it holds its pty or pipes, writes its log,
// serves attach clients on a socket and records its exit status in a file,
// whether or not gantryd is alive. Client is gantryd's side.
package monitor
