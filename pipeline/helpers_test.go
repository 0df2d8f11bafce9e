package pipeline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// stackSpecs is every container of `up` as its plan makes them: labelled,
// output kept, scripts mounted.
func stackSpecs(t *testing.T, c Config, workers int, flower bool) map[string]Spec {
	t.Helper()
	p, err := StackPlan(c, Options{Workers: workers, Flower: flower}, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	return p.Specs
}

// everySpec is the stack (two workers, Flower) and every container the
// module's functions run besides it.
func everySpec(t *testing.T, c Config) []Spec {
	t.Helper()
	var all []Spec
	for _, s := range stackSpecs(t, c, 2, true) {
		all = append(all, s)
	}
	node, err := StackPlan(shared(c), Options{Workers: 1, Node: &Node{Stack: "10.0.0.1", Advertise: "10.0.0.2"}}, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range node.Specs {
		all = append(all, s)
	}
	return append(all, CLI(c, []string{"version"}), Shell(c), Dbt(c, []string{"debug"}), DbtCI(c, "pr1", true), DbtDocs(c), EltCheck(c),
		Sync(c), DagCheck(c, ""), Holders(c), Logs(c, "postgres", 10), Wipe(c), LiveKey(c))
}

// onHost is a container's command line as it runs on this host: the
// module's scripts from the checkout (pipeline/scripts), and pairs of container
// paths and host paths.
func onHost(t *testing.T, s Spec, paths ...string) []string {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, ScriptsDir, filepath.Join(repo, ModuleScripts))
	cmd := s.Command()
	for i := range cmd {
		for j := 0; j+1 < len(paths); j += 2 {
			cmd[i] = strings.ReplaceAll(cmd[i], paths[j], paths[j+1])
		}
	}
	return cmd
}

// freePort is a TCP port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// moduleFunction is one function of the module as Dagger reads it from
// ../*.go: the constructor (New) or an exported method of DataPlatform,
// with its arguments, the context left out.
type moduleFunction struct {
	name string
	args []moduleArg
}

// moduleArg is an argument and its doc comment, pragmas included, its
// words joined by single spaces.
type moduleArg struct{ name, doc string }

func moduleFunctions(t *testing.T) []moduleFunction {
	t.Helper()
	files, err := filepath.Glob("../*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("the module's sources: %v", err)
	}
	var fns []moduleFunction
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "dagger.gen.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		comments := ast.NewCommentMap(fset, file, file.Comments)
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			isMethod := fd.Recv != nil && len(fd.Recv.List) == 1 && strings.Contains(typeName(fd.Recv.List[0].Type), "DataPlatform")
			if !isMethod && fd.Name.Name != "New" {
				continue
			}
			fn := moduleFunction{name: fd.Name.Name}
			for _, p := range fd.Type.Params.List {
				if typeName(p.Type) == "context.Context" {
					continue
				}
				var doc []string
				for _, c := range comments[p] {
					doc = append(doc, strings.Fields(c.Text())...)
				}
				for _, n := range p.Names {
					fn.args = append(fn.args, moduleArg{name: n.Name, doc: strings.Join(doc, " ")})
				}
			}
			fns = append(fns, fn)
		}
	}
	if len(fns) < 10 {
		t.Fatalf("found only %d functions of the module", len(fns))
	}
	return fns
}
