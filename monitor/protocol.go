package monitor

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantry/gantry/internal/atomicfile"
)

// Config is what a monitor is started with (sent as JSON on its stdin).
type Config struct {
	ID         string // the container's ID, runc's container ID
	Bundle     string // the OCI bundle: config.json, rootfs
	RuncBinary string // "" is runc from $PATH
	RuncRoot   string // runc's --root
	Dir        string // the monitor's directory: socket, exit file, pid file
	LogPath    string // the json-file log the output goes to; "" logs nothing
	// LogMaxSize rotates the log past that many bytes, keeping LogMaxFiles
	// files in all (as Docker's json-file max-size and max-file).
	LogMaxSize  int64
	LogMaxFiles int
	LogCompress bool // gzip the rotated files (compress=true)
	LogLocal    bool // moby's local format instead of json-file's
	LogCRI      bool // the CRI's format instead of json-file's (a pod's container)
	Terminal    bool // the container has a pty
	OpenStdin   bool // the container keeps a stdin for attached clients
	// ConsoleHeight and ConsoleWidth size the pty at start (0: the default).
	ConsoleHeight, ConsoleWidth uint16
}

// Exit is how a container ended, as its monitor recorded it.
type Exit struct {
	Code int       `json:"code"`
	Time time.Time `json:"time"`
}

// State is what a live monitor reports about itself.
type State struct {
	Pid        int  `json:"pid"`        // the container's init, 0 before start
	MonitorPid int  `json:"monitorPid"` // the monitor process
	Exited     bool `json:"exited"`
	// Version is the monitor's ProtocolVersion; 0 from the monitors of
	// gantry builds before the version was sent.
	Version int `json:"version,omitempty"`
}

// ProtocolVersion is the version of the protocol between gantryd and its
// monitors: the ready line ("ready <version>") and the state reply carry
// it, and a gantryd speaks to monitors of its own version only. Change it
// with any change a monitor of the other version would misread. Version 2:
// an attach connection ends with the container's exit (a streamExit frame).
const ProtocolVersion = 2

// OldestAdoptedVersion is the oldest protocol version of a live monitor
// that gantryd adopts at its start, so that an upgrade keeps the running
// containers: version 1 monitors end an attachment at the exit without the
// exit frame, and gantryd then asks them `wait`, as it does when a
// connection ends without one. A monitor gantryd starts must speak
// ProtocolVersion.
const OldestAdoptedVersion = 1

// VersionError is a monitor that speaks another protocol version than this
// gantryd: one left running by an older (or newer) gantry, or a
// gantry-monitor binary of another build than gantryd's.
type VersionError struct {
	Dir     string
	Version int // the monitor's; 0 when it sends none (older monitors)
}

func (e *VersionError) Error() string {
	v := "no protocol version (an older gantry-monitor)"
	if e.Version != 0 {
		v = "protocol version " + strconv.Itoa(e.Version)
	}
	return fmt.Sprintf("the container's monitor in %s speaks %s; this gantryd speaks version %d", e.Dir, v, ProtocolVersion)
}

// The files of a monitor's directory.
const (
	sockName      = "sock"
	exitName      = "exit.json"
	pidName       = "monitor.pid"
	monLogName    = "monitor.log"
	readyWord     = "ready"
	maxFrame      = 1 << 20
	maxRequest    = 64 << 10
	streamOut     = 1
	streamErr     = 2
	opAttach      = "attach"
	opStart       = "start"
	opWait        = "wait"
	opResize      = "resize"
	opState       = "state"
	opExec        = "exec"
	opExecWait    = "exec-wait"
	opReopenLog   = "reopen-log"
	streamExit    = 3 // the last frame of an exec (its ExecExit) or of an attachment at the exit (its Exit), as JSON
	errExited     = "the container has exited"
	errNotStart   = "the container has not started"
	errNotRunning = "the container is not running"
)

// request is the first line a client sends on a connection.
type request struct {
	Op string `json:"op"`
	// attach: whether the client sends stdin, and whether the end of what
	// it sends (or of the connection) closes the container's stdin, as the
	// end of an attached client's input does with StdinOnce.
	Stdin      bool `json:"stdin,omitempty"`
	CloseStdin bool `json:"closeStdin,omitempty"`
	// resize (of the exec ExecID when set)
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	// exec: the process, and which of its outputs the client reads
	ExecID  string          `json:"execID,omitempty"`
	Process json.RawMessage `json:"process,omitempty"`
	Stdout  bool            `json:"stdout,omitempty"`
	Stderr  bool            `json:"stderr,omitempty"`
	// exec: the client's own record of the exec, kept in the exec's file
	// for the next gantryd
	Record json.RawMessage `json:"record,omitempty"`
}

// ExecRecord is what the monitor keeps of an exec in exec-<id>.json, so
// that a new gantryd knows the execs that ran on.
type ExecRecord struct {
	ID       string          `json:"id"`
	Pid      int             `json:"pid"`
	Running  bool            `json:"running"`
	ExitCode int             `json:"exitCode"`
	Client   json.RawMessage `json:"client,omitempty"` // the starter's record (its exec config)
}

// ExecExit is the end of an exec.
type ExecExit struct {
	Code int `json:"code"`
}

// reply is the monitor's answer line.
type reply struct {
	Error string `json:"error,omitempty"`
	Pid   int    `json:"pid,omitempty"`
	Exit  *Exit  `json:"exit,omitempty"`
	State *State `json:"state,omitempty"`
}

// readyLine is what a monitor writes on its stdout once its socket accepts
// clients: "ready" and its protocol version.
func readyLine() string { return readyWord + " " + strconv.Itoa(ProtocolVersion) + "\n" }

// parseReady returns the protocol version of a ready line, 0 for the bare
// "ready" of older monitors; ok is false for anything else.
func parseReady(line string) (version int, ok bool) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != readyWord || !strings.HasSuffix(line, "\n") || len(f) > 2 {
		return 0, false
	}
	if len(f) == 1 {
		return 0, true
	}
	v, err := strconv.Atoi(f[1])
	return v, err == nil
}

// SocketPath is the attach and control socket of the monitor in dir.
func SocketPath(dir string) string { return filepath.Join(dir, sockName) }

// ReadExit returns the exit the monitor in dir recorded; ok is false when
// there is none (the container runs, or the monitor died before writing it).
func ReadExit(dir string) (e Exit, ok bool) {
	data, err := os.ReadFile(filepath.Join(dir, exitName))
	if err != nil {
		return Exit{}, false
	}
	if json.Unmarshal(data, &e) != nil {
		return Exit{}, false
	}
	return e, true
}

// ReadPid returns the pid of the monitor process of dir, 0 if unknown.
func ReadPid(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, pidName))
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(data), &pid)
	return pid
}

// ReadExecs returns the records of the execs of the monitor in dir.
func ReadExecs(dir string) []ExecRecord {
	paths, _ := filepath.Glob(filepath.Join(dir, "exec-*.json"))
	var out []ExecRecord
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r ExecRecord
		if json.Unmarshal(data, &r) == nil && r.ID != "" {
			out = append(out, r)
		}
	}
	return out
}

func writeExecRecord(dir string, r ExecRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(dir, "exec-"+r.ID+".json"), data, 0o600)
}

func writeExit(dir string, e Exit) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, exitName), data, 0o600)
}

// appendFrame appends the frame of p to buf, as writeFrame writes it.
func appendFrame(buf []byte, stream byte, p []byte) []byte {
	buf = append(buf, stream, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(buf[len(buf)-4:], uint32(len(p)))
	return append(buf, p...)
}

// writeFrame writes one chunk of output: the stream (1 stdout, 2 stderr),
// its length (4 bytes, big endian), the bytes.
func writeFrame(w io.Writer, stream byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// readFrame reads what writeFrame wrote; io.EOF at a clean end.
func readFrame(r *bufio.Reader) (stream byte, p []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("monitor frame of %d bytes", n)
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}
