package pipeline

import (
	"go/ast"
	"os"
	"strings"
	"testing"
	"unicode"
)

// Dagger reads the project's .env too, before the module runs: a line whose
// name is a constructor argument (compared case-insensitively), or a
// function's name, then "_", then one of its arguments, becomes that
// argument's default, converted to its type at once (a bad number, a bad
// address fails every call in Dagger's words). So no variable of the
// platform may ever match an argument of the module's functions: then a bad
// value always reaches the module, which names it. This reads the module's
// functions from ../*.go the way Dagger's rules do.
func TestNoVariableIsADaggerArgument(t *testing.T) {
	fns := moduleFunctions(t)
	for _, v := range knownNames() {
		for _, fn := range fns {
			for _, arg := range fn.args {
				if daggerReads(v, fn.name, arg.name) {
					t.Errorf("Dagger reads %s as the default of %s's --%s", v, fn.name, arg.name)
				}
			}
		}
	}
	// The rule, on names Dagger did read (or would): the former constructor
	// --db, a dbt --db, a Flower --port; and one it does not.
	for _, c := range []struct {
		variable, fn, arg string
		reads             bool
	}{
		{"DB", "New", "db", true}, {"DBT_DB", "Dbt", "db", true}, {"FLOWER_PORT", "Flower", "port", true},
		{"dbtTarget_cmd", "DbtTarget", "cmd", true}, {"POSTGRES_PASSWORD", "New", "postgresPassword", false},
	} {
		if got := daggerReads(c.variable, c.fn, c.arg); got != c.reads {
			t.Errorf("daggerReads(%s, %s, %s) = %v", c.variable, c.fn, c.arg, got)
		}
	}
}

// daggerReads: Dagger takes a .env line named variable as the default of
// argument arg of the module's function fn ("New": the constructor).
func daggerReads(variable, fn, arg string) bool {
	if fn == "New" {
		return strings.EqualFold(variable, arg)
	}
	for _, prefix := range []string{lowerCamel(fn) + "_", snake(fn) + "_"} {
		if len(variable) > len(prefix) && strings.EqualFold(variable[:len(prefix)], prefix) && strings.EqualFold(variable[len(prefix):], arg) {
			return true
		}
	}
	return false
}

func typeName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return "*" + typeName(x.X)
	case *ast.SelectorExpr:
		return typeName(x.X) + "." + x.Sel.Name
	case *ast.ArrayType:
		return "[]" + typeName(x.Elt)
	}
	return ""
}

func lowerCamel(s string) string {
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func parseSource(path string) (string, error) {
	data, err := os.ReadFile(path)
	return string(data), err
}
