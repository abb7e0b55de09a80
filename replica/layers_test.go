package replica

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is the import path of EventOps's module.
const module = "github.com/eventops/eventops"

// infrastructure are the libraries the pure core never reaches.
var infrastructure = []string{
	"github.com/lovoo/goka", "github.com/IBM/sarama", "github.com/Shopify/sarama", "github.com/twmb/franz-go",
	"github.com/asynkron/protoactor-go", "github.com/jackc/pgx", "github.com/gofiber/fiber", "github.com/prometheus/client_golang",
}

// The layers of DESIGN.md's "Where code lives", as the go command sees
// the imports of the code that ships (tests aside): each failure names the
// import chain that breaks a rule.
func TestLayers(t *testing.T) {
	graph := importGraph(t)
	// The pure core reaches no infrastructure, directly or through
	// another package.
	for _, pure := range []string{"features", "rules", "notify", "normalize", "engine"} {
		if chain := importChain(graph, module+"/"+pure, func(p string) bool { return underAny(p, infrastructure) }); chain != nil {
			t.Errorf("%s reaches an infrastructure library: %s", pure, show(chain))
		}
	}
	harness := []string{module + "/replica", module + "/bench", module + "/chaos", module + "/loadgen"}
	for pkg := range graph {
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		// Nothing imports the command.
		for _, imp := range graph[pkg] {
			if under(imp, module+"/cmd") {
				t.Errorf("%s imports %s: nothing imports the command", trim(pkg), trim(imp))
			}
		}
		// The product reaches neither the replica's wiring (but for the
		// replica itself) nor the harness.
		if product(pkg) {
			forbidden := func(p string) bool { return p != pkg && underAny(p, harness) }
			if chain := importChain(graph, pkg, forbidden); chain != nil {
				t.Errorf("%s is product code and reaches %s: %s", trim(pkg), trim(chain[len(chain)-1]), show(chain))
			}
		}
	}
}

// product says whether a package of the module is product code: all but
// the command and the harness.
func product(pkg string) bool {
	for _, edge := range []string{"/cmd", "/bench", "/chaos", "/loadgen"} {
		if under(pkg, module+edge) {
			return false
		}
	}
	return true
}

// importGraph maps every package the module's packages reach, the module's
// own included, to its imports (not its tests').
func importGraph(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"/...").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	graph := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			graph[f[0]] = f[1:]
		}
	}
	if _, ok := graph[module+"/replica"]; !ok {
		t.Fatalf("go list does not list %s/replica: %s", module, out)
	}
	return graph
}

// importChain returns the shortest chain of imports from `from` to a
// package bad accepts (from first), or nil when there is none.
func importChain(graph map[string][]string, from string, bad func(string) bool) []string {
	parent := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if pkg != from && bad(pkg) {
			var chain []string
			for p := pkg; p != ""; p = parent[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range graph[pkg] {
			if _, seen := parent[imp]; !seen {
				parent[imp] = pkg
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// under says whether pkg is root or one of its subpackages.
func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

func underAny(pkg string, roots []string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return under(pkg, r) })
}

// show writes a chain as a → b → c, the module's packages by their folder.
func show(chain []string) string {
	out := make([]string, len(chain))
	for i, p := range chain {
		out[i] = trim(p)
	}
	return strings.Join(out, " → ")
}

func trim(pkg string) string { return strings.TrimPrefix(pkg, module+"/") }
