// Package depcheck holds the test that keeps imports inside the table of
// ARCHITECTURE.md: each package may import only the packages listed for it.
package depcheck

import (
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/gantry/gantry/"

// allowed is the "may import" column of docs/ARCHITECTURE.md. Packages under
// internal/ may be imported by anyone; nil means no internal imports at all.
var allowed = map[string][]string{
	"cmd/gantry":           {"cli"},
	"cmd/gantryd":          {"daemon", "api", "cri"},
	"cmd/gantry-monitor":   {"monitor"},
	"cmd/gantry-buildkitd": {"buildkit/engine"},
	"buildkit":             {"mount"},
	"buildkit/engine":      {"buildkit"},
	"cli":                  {"client", "ctxsync"},
	"ctxsync":              nil,
	"client":               nil,
	"api":                  {"events"},
	"events":               nil,
	"daemon":               {"*"},
	"dockerfile":           nil,
	"builder":              {"dockerfile", "image", "layer", "content", "mount"},
	"image":                {"content"},
	"tarball":              nil,
	"content":              nil,
	"gc":                   {"content", "layer", "image"},
	"layer":                {"mount"},
	"mount":                nil,
	"container":            {"mount"},
	"runtime":              nil,
	"monitor":              {"runtime", "container"},
	"network":              {"network/dns"},
	"network/dns":          nil,
	"cri":                  {"api", "container", "events", "monitor", "runtime"},
	"registry":             {"content"},
	"volume":               nil,
	"integration":          {"*"},
	"bench/cribench":       nil,
	"bench/staticapi":      nil,

	"distribution": {"content", "layer", "image", "registry"},
}

func TestImportRules(t *testing.T) {
	// One line per package, its test variants included:
	// "github.com/gantry/gantry/x [github.com/gantry/gantry/x.test] dep dep ...".
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	bad := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if !strings.HasPrefix(fields[0], module) {
			continue
		}
		pkg := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(fields[0], module), ".test"), "_test")
		if strings.HasPrefix(pkg, "internal/") {
			continue
		}
		rule, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in the import table of docs/ARCHITECTURE.md (add it there and here)", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours || strings.HasPrefix(imp, "[") || dep == pkg || strings.HasPrefix(dep, "internal/") || permits(rule, dep) {
				continue
			}
			bad[pkg+" -> "+dep] = true
		}
	}
	for _, b := range slices.Sorted(maps.Keys(bad)) {
		t.Errorf("forbidden import %s (see the package table in docs/ARCHITECTURE.md)", b)
	}
}

// TestTableIsTheDoc: allowed is the package table of docs/ARCHITECTURE.md,
// row for row, so that neither drifts from the other. In the table's
// "may import" column, "nothing internal" is no internal import,
// "everything" and "-" (integration, internal/...) any; what is not a
// package of this module (wire types, errdefs) or is under internal/ is
// not an internal import.
func TestTableIsTheDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|.*\\| ([^|]*) \\|$")
	table := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		pkg, col := m[1], strings.TrimSpace(m[2])
		if strings.HasPrefix(pkg, "internal/") {
			continue
		}
		var deps []string
		switch col {
		case "nothing internal":
		case "everything", "-":
			deps = []string{"*"}
		default:
			for _, d := range strings.Split(col, ",") {
				d = strings.TrimSpace(d)
				if _, isPkg := allowed[d]; isPkg || (strings.Contains(d, "/") && !strings.HasPrefix(d, "internal/")) {
					deps = append(deps, d)
				}
			}
		}
		table[pkg] = deps
	}
	if len(table) == 0 {
		t.Fatal("no package table found in docs/ARCHITECTURE.md")
	}
	if d := cmp.Diff(table, allowed, cmp.Transformer("sorted", func(in []string) []string {
		return slices.Sorted(slices.Values(in))
	})); d != "" {
		t.Errorf("the package table of docs/ARCHITECTURE.md (-) and allowed (+) differ:\n%s", d)
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

// TestGantrydLinksNoBuildKit: BuildKit runs in gantry-buildkitd, started
// on the first build; gantryd links only the client side of it (package
// buildkit), so that its idle memory does not pay for BuildKit's packages.
// gRPC itself is linked: the CRI (package cri) is a gRPC service.
func TestGantrydLinksNoBuildKit(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"cmd/gantryd").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == module+"buildkit/engine" || dep == "github.com/moby/buildkit/control" || strings.HasPrefix(dep, "github.com/moby/buildkit/solver") {
			t.Errorf("gantryd links %s: BuildKit belongs in gantry-buildkitd", dep)
		}
	}
}
