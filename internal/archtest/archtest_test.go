package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	module   = "github.com/headroomhq/headroom"
	root     = "../.."
	mapFile  = "docs/architecture.md"
	tableBeg = "<!-- packages:begin -->"
	tableEnd = "<!-- packages:end -->"
)

// rule is one row of the package table. Paths are relative to the module.
type rule struct {
	line    int
	pkg     string
	may     []string // direct imports allowed; "*" allows any
	mustNot []string // patterns ("x", "x/...", "*") forbidden directly or indirectly
}

// pkg is one package of the tree with its Headroom imports, relative.
type pkg struct {
	imports []string // direct
	deps    []string // direct and indirect
}

var backticked = regexp.MustCompile("`([^`]+)`")

// parseTable reads the rules between the table markers of the map.
func parseTable(r io.Reader) ([]rule, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	beg, end := slices.Index(lines, tableBeg), slices.Index(lines, tableEnd)
	if beg < 0 || end < beg {
		return nil, fmt.Errorf("no package table between %q and %q", tableBeg, tableEnd)
	}
	var rules []rule
	for i := beg + 1; i < end; i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "| package ") || strings.HasPrefix(l, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) != 4 {
			return nil, fmt.Errorf("line %d: want 4 cells (package, owns, may import, must not import), got %d", i+1, len(cells))
		}
		name := backticked.FindStringSubmatch(cells[0])
		if name == nil {
			return nil, fmt.Errorf("line %d: the package cell %q has no `path`", i+1, strings.TrimSpace(cells[0]))
		}
		r := rule{line: i + 1, pkg: name[1]}
		for _, m := range backticked.FindAllStringSubmatch(cells[2], -1) {
			r.may = append(r.may, m[1])
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[3], -1) {
			r.mustNot = append(r.mustNot, m[1])
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// matches reports whether path falls under pattern: "x" is x alone,
// "x/..." is x and every package under it.
func matches(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// check returns every way the tree breaks the rules.
func check(rules []rule, tree map[string]pkg) []string {
	var problems []string
	byPkg := map[string]rule{}
	for _, r := range rules {
		if _, dup := byPkg[r.pkg]; dup {
			problems = append(problems, fmt.Sprintf("%s:%d: %s has two rows", mapFile, r.line, r.pkg))
		}
		byPkg[r.pkg] = r
		if _, ok := tree[r.pkg]; !ok {
			problems = append(problems, fmt.Sprintf("%s:%d: %s is not a package of the tree; remove its row", mapFile, r.line, r.pkg))
		}
	}
	names := make([]string, 0, len(tree))
	for name := range tree {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := tree[name]
		r, ok := byPkg[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no row in %s: add what it owns, what it may import (today %s) and what it must not",
				name, mapFile, list(p.imports)))
			continue
		}
		if !slices.Contains(r.may, "*") {
			for _, imp := range p.imports {
				if !slices.Contains(r.may, imp) {
					problems = append(problems, fmt.Sprintf("%s imports %s, which its row (%s:%d) does not list under may import", name, imp, mapFile, r.line))
				}
			}
			// The column is the list of what it imports, not a wish list.
			for _, m := range r.may {
				if !slices.Contains(p.imports, m) {
					problems = append(problems, fmt.Sprintf("%s no longer imports %s; remove it from may import in its row (%s:%d)", name, m, mapFile, r.line))
				}
			}
		}
		// "*": nothing beyond what it may import and what those import.
		var allowed map[string]bool
		if slices.Contains(r.mustNot, "*") {
			allowed = map[string]bool{}
			for _, m := range r.may {
				allowed[m] = true
				for _, d := range tree[m].deps {
					allowed[d] = true
				}
			}
		}
		for _, dep := range p.deps {
			if allowed != nil && !allowed[dep] {
				problems = append(problems, fmt.Sprintf("%s depends on %s, but its row (%s:%d) allows nothing beyond %s", name, dep, mapFile, r.line, list(r.may)))
			}
			for _, pat := range r.mustNot {
				if pat != "*" && matches(pat, dep) {
					problems = append(problems, fmt.Sprintf("%s depends on %s%s, which its row (%s:%d) forbids (%s)", name, dep, via(tree, name, dep), mapFile, r.line, pat))
				}
			}
		}
	}
	return problems
}

// via names the direct import through which from reaches dep, if it is
// not a direct import.
func via(tree map[string]pkg, from, dep string) string {
	if slices.Contains(tree[from].imports, dep) {
		return ""
	}
	for _, imp := range tree[from].imports {
		if slices.Contains(tree[imp].deps, dep) {
			return " through " + imp
		}
	}
	return ""
}

func list(ps []string) string {
	if len(ps) == 0 {
		return "nothing"
	}
	return strings.Join(ps, ", ")
}

// goList reads the tree's import graph from `go list -deps -json ./...`:
// every package of the module with its Headroom imports, direct and
// indirect (test files not included).
func goList(t *testing.T) map[string]pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps -json ./...: %v\n%s", err, stderr.String())
	}
	rel := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			if p == module {
				out = append(out, ".")
			} else if r, ok := strings.CutPrefix(p, module+"/"); ok {
				out = append(out, r)
			}
		}
		return out
	}
	tree := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Dir string
			Imports, Deps   []string
			GoFiles         []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		name := rel([]string{p.ImportPath})
		if len(name) == 0 {
			continue // the standard library or another module
		}
		tree[name[0]] = pkg{imports: rel(p.Imports), deps: rel(p.Deps)}
		// go test caches a passing run against the files the test opened
		// or stat'ed; go list's reads are not among them, so the test
		// stats the sources itself: an edited import runs it again.
		for _, f := range p.GoFiles {
			if _, err := os.Stat(filepath.Join(p.Dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The same for a new package: a new folder changes a listing.
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tree) == 0 {
		t.Fatal("go list reported no package of the module")
	}
	return tree
}

// TestImportBoundaries holds the tree to the map's package table.
func TestImportBoundaries(t *testing.T) {
	f, err := os.Open(filepath.Join(root, mapFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := parseTable(f)
	if err != nil {
		t.Fatalf("%s: %v", mapFile, err)
	}
	for _, p := range check(rules, goList(t)) {
		t.Error(p)
	}
}

// TestCheck holds the checker itself to a small made-up tree, so that a
// broken checker cannot pass the real one silently.
func TestCheck(t *testing.T) {
	tree := map[string]pkg{
		"config":       {},
		"store":        {},
		"limiter":      {},
		"limiter/demo": {imports: []string{"limiter"}, deps: []string{"limiter"}},
		"collector":    {imports: []string{"config"}, deps: []string{"config"}},
		"api":          {imports: []string{"whatif"}, deps: []string{"whatif", "limiter/demo", "limiter"}},
		"whatif":       {imports: []string{"limiter/demo"}, deps: []string{"limiter/demo", "limiter"}},
		"limiterx":     {imports: []string{"store"}, deps: []string{"store"}},
		"tool":         {imports: []string{"limiterx"}, deps: []string{"limiterx", "store"}},
	}
	base := func() []rule {
		return []rule{
			{pkg: "config", mustNot: []string{"*"}},
			{pkg: "store", mustNot: []string{"*"}},
			{pkg: "limiter", mustNot: []string{"*"}},
			{pkg: "limiter/demo", may: []string{"limiter"}},
			{pkg: "collector", may: []string{"config"}, mustNot: []string{"limiter/..."}},
			{pkg: "api", may: []string{"whatif"}},
			{pkg: "whatif", may: []string{"limiter/demo"}, mustNot: []string{"store"}},
			{pkg: "limiterx", may: []string{"store"}},
			{pkg: "tool", may: []string{"limiterx"}, mustNot: []string{"limiter/..."}},
		}
	}
	tests := []struct {
		name   string
		change func([]rule) []rule
		want   []string // substrings, one per problem, in order
	}{
		{"the rules hold", func(r []rule) []rule { return r }, nil},
		{"an indirect import is forbidden", func(r []rule) []rule {
			r[5].mustNot = []string{"limiter/..."}
			return r
		}, []string{"api depends on limiter/demo through whatif", "api depends on limiter through whatif"}},
		{"an import missing from may import", func(r []rule) []rule {
			r[3].may = nil
			return r
		}, []string{"limiter/demo imports limiter, which its row"}},
		{"may import lists an import no longer made", func(r []rule) []rule {
			r[4].may = []string{"config", "store"}
			return r
		}, []string{"collector no longer imports store"}},
		{"star: nothing beyond may import", func(r []rule) []rule {
			r[5].mustNot = []string{"*"}
			r[5].may = []string{"whatif"}
			return r
		}, nil},
		{"star forbids a dependency reached otherwise", func(r []rule) []rule {
			r[4].may = []string{"*"}
			r[4].mustNot = []string{"*"}
			return r
		}, []string{"collector depends on config, but its row"}},
		{"a package without a row", func(r []rule) []rule { return r[1:] }, []string{"config has no row"}},
		{"a row without a package", func(r []rule) []rule {
			return append(r, rule{pkg: "gone"})
		}, []string{"gone is not a package of the tree"}},
		{"x/... is not a prefix of xy", func(r []rule) []rule { return r }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(tt.change(base()), tree)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d: %q, want it to say %q", i, got[i], w)
				}
			}
		})
	}
}

func TestParseTable(t *testing.T) {
	tests := []struct {
		name, text string
		want       []rule
		wantErr    string
	}{
		{"rows", tableBeg + "\n| package | owns | may import | must not import |\n|---|---|---|---|\n" +
			"| `api` | the API | `config`, `store` | `collector/...`, `round` |\n| `config` | configuration | — | `*` |\n" + tableEnd,
			[]rule{{line: 4, pkg: "api", may: []string{"config", "store"}, mustNot: []string{"collector/...", "round"}},
				{line: 5, pkg: "config", mustNot: []string{"*"}}}, ""},
		{"no markers", "| `api` | x | — | — |", nil, "no package table"},
		{"a cell too few", tableBeg + "\n| `api` | x | — |\n" + tableEnd, nil, "line 2: want 4 cells"},
		{"no package path", tableBeg + "\n| api | x | — | — |\n" + tableEnd, nil, "has no `path`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTable(strings.NewReader(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
