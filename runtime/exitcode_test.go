package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestStartExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"not in path", errors.New(`runc run failed: unable to start container process: exec: "nope": executable file not found in $PATH`), 127},
		{"missing absolute path", errors.New(`runc run failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory`), 127},
		{"not a directory", errors.New(`error mounting "/etc/x" to rootfs: not a directory`), 127},
		{"not executable", errors.New(`exec: "/etc/passwd": permission denied`), 126},
		{"directory", errors.New(`exec: "/etc": is a directory`), 126},
		{"bad binary", errors.New(`exec /x: exec format error`), 126},
		{"other", errors.New("cgroup: no space left on device"), 125},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StartExitCode(tt.err); got != tt.want {
				t.Errorf("StartExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestLastError(t *testing.T) {
	tests := []struct {
		name, log, want string
	}{
		{"empty", "", ""},
		{"json", `{"level":"warning","msg":"w","time":"t"}` + "\n" + `{"level":"error","msg":"container does not exist","time":"t"}` + "\n", "container does not exist"},
		{"last error wins", `{"level":"error","msg":"a"}` + "\n" + `{"level":"error","msg":"b"}`, "b"},
		{"only warnings", `{"level":"warning","msg":"w"}`, ""},
		{"plain text", "something broke\n", "something broke"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lastError(strings.NewReader(tt.log)); got != tt.want {
				t.Errorf("lastError() = %q, want %q", got, tt.want)
			}
		})
	}
}
