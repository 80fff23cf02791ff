package runtime

import "strings"

// StartExitCode is the exit code Docker records for a container whose start
// failed with err: 127 when the command does not exist ("executable file not
// found", "no such file or directory", "not a directory"), 126 when it cannot
// be executed ("permission denied", "is a directory", "exec format error"),
// else 125. A nil error gives 0.
func StartExitCode(err error) int {
	if err == nil {
		return 0
	}
	msg := strings.ToLower(err.Error())
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("permission denied", "is a directory", "exec format error", "not executable"):
		return 126
	case has("executable file not found", "no such file or directory", "not a directory"):
		return 127
	}
	return 125
}
