package pipeline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// The table is all a secret variable needs besides its constructor
// argument: for each secret row, main.go's New takes the argument the row
// names (optional, documented, a *dagger.Secret), and the module's object
// keeps it in the field the platform reads it from (see secretArgs); and
// nothing else in main.go names a secret variable.
func TestEverySecretRowHasItsConstructorArgument(t *testing.T) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "../main.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{} // name -> its doc comment
	fields := map[string]string{} // name -> type
	var newFunc *ast.FuncDecl
	for _, decl := range file.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Name.Name == "New" && d.Recv == nil {
				newFunc = d
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				if ts, ok := spec.(*ast.TypeSpec); ok && ts.Name.Name == "DataPlatform" {
					for _, f := range ts.Type.(*ast.StructType).Fields.List {
						for _, n := range f.Names {
							fields[n.Name] = typeName(f.Type)
						}
					}
				}
			}
		}
	}
	if newFunc == nil {
		t.Fatal("main.go has no New")
	}
	for _, f := range newFunc.Type.Params.List {
		for _, n := range f.Names {
			if typeName(f.Type) == "*dagger.Secret" {
				params[n.Name] = commentBefore(fset, file, f.Pos())
			}
		}
	}
	rows := SecretVariables()
	if len(rows) == 0 {
		t.Fatal("no secret rows in the table")
	}
	for _, v := range rows {
		doc, ok := params[v.Secret]
		if !ok {
			t.Errorf("%s: New has no *dagger.Secret argument %s", v.Name, v.Secret)
			continue
		}
		if !strings.Contains(doc, "+optional") || !strings.Contains(doc, v.Name) {
			t.Errorf("%s: New's %s is not documented as an optional override of %s: %q", v.Name, v.Secret, v.Name, doc)
		}
		field := strings.ToUpper(v.Secret[:1]) + v.Secret[1:]
		if fields[field] != "*dagger.Secret" {
			t.Errorf("%s: DataPlatform has no field %s *dagger.Secret", v.Name, field)
		}
		delete(params, v.Secret)
	}
	for name := range params {
		t.Errorf("New's secret argument %s is no row of the table", name)
	}
	src, _ := parseSource("../main.go")
	for _, v := range rows {
		if strings.Contains(src, `"`+v.Name+`"`) {
			t.Errorf("main.go names %s itself: everything about it comes from the table", v.Name)
		}
	}
}

// The rows' flags and checks: every check a row names exists.
func TestTableRows(t *testing.T) {
	for _, v := range Variables() {
		if checks[v.Check] == nil {
			t.Errorf("%s: no check %q", v.Name, v.Check)
		}
		if v.Warn != "" && v.Warn != "known" && v.Warn != "unnamed" {
			t.Errorf("%s: unknown warning %q", v.Name, v.Warn)
		}
	}
	if f := (Variable{Secret: "airflowWwwPassword"}).Flag(); f != "--airflow-www-password" {
		t.Errorf("Flag() = %q", f)
	}
}

// commentBefore is the text of the comment group that ends on the line
// before pos.
func commentBefore(fset *token.FileSet, file *ast.File, pos token.Pos) string {
	line := fset.Position(pos).Line
	for _, g := range file.Comments {
		if fset.Position(g.End()).Line == line-1 {
			return g.Text()
		}
	}
	return ""
}
