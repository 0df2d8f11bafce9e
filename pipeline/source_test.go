package pipeline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// Every function of the module (../main.go, ../checks.go) takes the project
// as its own `source` (the constructor takes none, so that an edit never
// makes Dagger run it again), and every one of them the same way: the same
// default and the same ignore list, so no function sees other files of the
// project than the rest.
func TestEveryFunctionTakesTheSameSource(t *testing.T) {
	fset := token.NewFileSet()
	var want string
	functions := 0
	for _, file := range []string{"../main.go", "../checks.go"} {
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		comments := ast.NewCommentMap(fset, f, f.Comments)
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || !fn.Name.IsExported() {
				continue
			}
			if fn.Recv == nil { // the constructor
				for _, p := range fn.Type.Params.List {
					if p.Names[0].Name == "source" {
						t.Errorf("%s: the constructor takes the project's files", fset.Position(p.Pos()))
					}
				}
				continue
			}
			functions++
			var doc string
			for _, p := range fn.Type.Params.List {
				if p.Names[0].Name == "source" {
					for _, c := range comments[p] {
						doc += strings.Join(strings.Fields(c.Text()), " ")
					}
				}
			}
			switch {
			case doc == "":
				t.Errorf("%s takes no documented source", fn.Name.Name)
			case !strings.Contains(doc, `+defaultPath="/"`) || !strings.Contains(doc, `+ignore=[`):
				t.Errorf("%s's source has no default or ignore list: %s", fn.Name.Name, doc)
			case want == "":
				want = doc
			case doc != want:
				t.Errorf("%s's source differs from the others':\n%s\nwant:\n%s", fn.Name.Name, doc, want)
			}
		}
	}
	if functions < 20 {
		t.Errorf("read %d functions; the module has more", functions)
	}
}
