// Package depcheck holds the test that keeps imports inside the table of
// ARCHITECTURE.md: each package may import only the packages listed for it.
package depcheck

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/gantry/gantry/"

// allowed is the "may import" column of ARCHITECTURE.md. Packages under
// internal/ may be imported by anyone; nil means no internal imports at all.
var allowed = map[string][]string{
	"cmd/gantry":  {"cli"},
	"cmd/gantryd": {"daemon", "api"},
	"cli":         {"client"},
	"client":      nil,
	"api":         nil,
	"daemon":      {"*"},
	"dockerfile":  nil,
	"builder":     {"dockerfile", "image", "layer", "content", "mount"},
	"image":       {"content"},
	"content":     nil,
	"layer":       {"mount"},
	"mount":       nil,
	"container":   {"mount"},
	"runtime":     nil,
	"network":     nil,
	"registry":    {"content"},
	"integration": {"*"},
	"bench":       {"*"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		pkg = strings.Fields(strings.SplitN(pkg, " ", 2)[0])[0]
		pkg = strings.TrimSuffix(strings.SplitN(pkg, "[", 2)[0], ".test")
		pkg = strings.TrimSuffix(pkg, "_test")
		if strings.HasPrefix(pkg, "internal/") || !strings.HasPrefix(fields[0], module) {
			continue
		}
		rule, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in the import table of ARCHITECTURE.md (add it there and here)", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if dep == pkg || strings.HasPrefix(dep, "internal/") || permits(rule, dep) {
				continue
			}
			key := pkg + " -> " + dep
			if !seen[key] {
				seen[key] = true
			}
		}
	}
	var bad []string
	for k := range seen {
		bad = append(bad, k)
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("forbidden import %s (see the package table in ARCHITECTURE.md)", b)
	}
}

func permits(rule []string, dep string) bool {
	for _, r := range rule {
		if r == "*" || r == dep {
			return true
		}
	}
	return false
}
