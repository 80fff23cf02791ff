package builder

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/dockerfile"
)

// around is what a miss is explained against besides the step's own
// record: the instruction written after the step now, and the record of
// the step that came after the last build's step at this place.
type around struct {
	next    string  // Source of the next instruction of the stage, "" for none
	oldNext *Inputs // the last build's next step, nil if unknown
}

// explain says what changed between the last build at a place of the
// Dockerfile (old, nil when there was none) and this one (cur), naming the
// change from what to what: `ENV E: 1 -> 2`, `app/a.txt: mode 0644 ->
// 0755`, `instruction inserted before this step: LABEL x=1`. instr is the
// instruction's name in upper case ("RUN").
func explain(old *Inputs, cur Inputs, instr string, a around) string {
	if old == nil {
		return "no earlier build of this step"
	}
	if old.Instruction != cur.Instruction {
		return instructionChange(old, cur, instr, a)
	}
	if old.BaseImage != cur.BaseImage && cur.Base != "" {
		return fmt.Sprintf("base image %s now points to a new image (%s -> %s)", cur.Base, shortID(old.BaseImage), shortID(cur.BaseImage))
	}
	if old.Epoch != cur.Epoch {
		o, n := old.Epoch, cur.Epoch
		if o == "" {
			o = "unset"
		}
		if n == "" {
			n = "unset"
		}
		return fmt.Sprintf("SOURCE_DATE_EPOCH: %s -> %s", o, n)
	}
	if msg := argsChange(old.BuildArgs, cur.BuildArgs); msg != "" {
		return msg
	}
	if old.Sources != cur.Sources {
		if old.Files == nil || cur.Files == nil {
			return instr + " sources changed"
		}
		return filesChange(old.Files, cur.Files)
	}
	if old.Parent != cur.Parent {
		return fmt.Sprintf("the previous step produced a different image (%s -> %s)", shortID(old.Parent), shortID(cur.Parent))
	}
	return "the cached image is gone"
}

// instructionChange explains an instruction that is not the one the last
// build ran at this place: one inserted or removed before it, another
// instruction, or the same one with a part changed.
func instructionChange(old *Inputs, cur Inputs, instr string, a around) string {
	if old.Source != "" && cur.Source != "" {
		if a.next != "" && a.next == old.Source && a.oldNext != nil && a.oldNext.Source == cur.Source {
			return fmt.Sprintf("instructions swapped: %s now before %s", cur.Source, old.Source)
		}
		if a.next != "" && a.next == old.Source {
			return "instruction inserted before this step: " + cur.Source
		}
		if a.oldNext != nil && a.oldNext.Source == cur.Source && a.oldNext.Instruction == cur.Instruction {
			return "instruction removed before this step: " + old.Source
		}
	}
	oldName, _, _ := strings.Cut(old.Instruction, " ")
	curName, _, _ := strings.Cut(cur.Instruction, " ")
	if oldName != curName || old.Parts == nil || cur.Parts == nil {
		if old.Source != "" && cur.Source != "" {
			return fmt.Sprintf("instruction changed: %s -> %s", old.Source, cur.Source)
		}
		return instr + " instruction changed"
	}
	if msg := partsChange(instr, old.Parts, cur.Parts); msg != "" {
		return msg
	}
	return instr + " instruction changed"
}

// partsChange names the first part that differs: `ENV E: 1 -> 2`, `COPY
// --chown: unset -> 1000:1000`, `WORKDIR /a -> /b`.
func partsChange(instr string, old, cur []dockerfile.Part) string {
	find := func(ps []dockerfile.Part, name string) (string, bool) {
		for _, p := range ps {
			if p.Name == name {
				return p.Value, true
			}
		}
		return "", false
	}
	var names []string
	for _, ps := range [][]dockerfile.Part{cur, old} {
		for _, p := range ps {
			if !slices.Contains(names, p.Name) {
				names = append(names, p.Name)
			}
		}
	}
	for _, name := range names {
		o, hadOld := find(old, name)
		n, hasNew := find(cur, name)
		if hadOld && hasNew && o == n {
			continue
		}
		if !hadOld {
			o = "unset"
		}
		if !hasNew {
			n = "unset"
		}
		if hadOld && hasNew {
			o, n = clip(o, n)
			o, n = show(o), show(n)
		}
		if name == "" {
			return fmt.Sprintf("%s %s -> %s", instr, o, n)
		}
		return fmt.Sprintf("%s %s: %s -> %s", instr, name, o, n)
	}
	return ""
}

// show quotes a value that would break the line.
func show(s string) string {
	if strings.ContainsAny(s, "\n\r\t") {
		return strconv.Quote(s)
	}
	return s
}

// clip shortens two long texts that differ to the region around their
// first difference, so that a changed 300-character RUN fits a line.
func clip(a, b string) (string, string) {
	const width = 40
	if len(a) <= 2*width && len(b) <= 2*width {
		return a, b
	}
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	cut := func(s string) string {
		start := max(0, p-width/2)
		end := min(len(s), start+width)
		out := s[start:end]
		if start > 0 {
			out = "..." + out
		}
		if end < len(s) {
			out += "..."
		}
		return out
	}
	return cut(a), cut(b)
}

func argsChange(old, cur map[string]string) string {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range old {
			if !yield(k) {
				return
			}
		}
		for k := range cur {
			if _, ok := old[k]; !ok && !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		o, hadOld := old[name]
		n, hasNew := cur[name]
		switch {
		case hadOld && hasNew && o != n:
			return fmt.Sprintf("build arg %s changed (%s -> %s)", name, o, n)
		case !hadOld:
			return fmt.Sprintf("build arg %s changed (unset -> %s)", name, n)
		case !hasNew:
			return fmt.Sprintf("build arg %s changed (%s -> unset)", name, o)
		}
	}
	return ""
}

// filesChange names the first source file that changed, was added or was
// removed, and what changed in it: `app/a.txt: mode 0644 -> 0755`.
func filesChange(old, cur map[string]string) string {
	var changed, added, removed []string
	for p, d := range cur {
		switch od, ok := old[p]; {
		case !ok:
			added = append(added, p)
		case od != d:
			changed = append(changed, p)
		}
	}
	for p := range old {
		if _, ok := cur[p]; !ok {
			removed = append(removed, p)
		}
	}
	for _, l := range []struct {
		paths []string
		verb  string
	}{{changed, "changed"}, {added, "added"}, {removed, "removed"}} {
		if len(l.paths) == 0 {
			continue
		}
		slices.Sort(l.paths)
		p := l.paths[0]
		msg := p + " " + l.verb
		if l.verb == "changed" {
			msg = p + ": " + fileChange(old[p], cur[p])
		}
		if n := len(changed) + len(added) + len(removed) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more file%s)", n, plural(n))
		}
		return msg
	}
	return "sources changed"
}

// fileChange says what differs between two fileSum texts: `mode 0644 ->
// 0755`, `owner 0:0 -> 1000:1000`, `content changed`, joined by commas.
func fileChange(old, cur string) string {
	o, ok1 := parseFileSum(old)
	n, ok2 := parseFileSum(cur)
	if !ok1 || !ok2 {
		return "content changed"
	}
	var what []string
	if o.content != n.content {
		what = append(what, "content changed")
	}
	const typeBits = 0o170000
	if o.mode&typeBits != n.mode&typeBits {
		what = append(what, fmt.Sprintf("type %s -> %s", fileType(o.mode), fileType(n.mode)))
	} else if o.mode != n.mode {
		what = append(what, fmt.Sprintf("mode %04o -> %04o", o.mode&0o7777, n.mode&0o7777))
	}
	if o.uid != n.uid || o.gid != n.gid {
		what = append(what, fmt.Sprintf("owner %d:%d -> %d:%d", o.uid, o.gid, n.uid, n.gid))
	}
	if len(what) == 0 {
		return "changed"
	}
	return strings.Join(what, ", ")
}

func fileType(mode uint32) string {
	switch mode & 0o170000 {
	case 0o100000:
		return "file"
	case 0o120000:
		return "symlink"
	case 0o010000:
		return "fifo"
	case 0o040000:
		return "directory"
	}
	return fmt.Sprintf("%o", mode&0o170000)
}

// shortID is short for an image ID in an explanation ("none" for "").
func shortID(id digest.Digest) string {
	if id == "" {
		return "none"
	}
	return short(id)
}
