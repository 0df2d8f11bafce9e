package pipeline

import (
	"strings"
	"testing"
)

// Every function of the module takes the project as its own `source` (the
// constructor takes none, so that an edit never makes Dagger run it
// again), and every one of them the same way: the same default and the
// same ignore list, so no function sees other files of the project than
// the rest.
func TestEveryFunctionTakesTheSameSource(t *testing.T) {
	var want string
	for _, fn := range moduleFunctions(t) {
		var doc string
		takes := false
		for _, arg := range fn.args {
			if arg.name == "source" {
				doc, takes = arg.doc, true
			}
		}
		switch {
		case fn.name == "New":
			if takes {
				t.Error("the constructor takes the project's files")
			}
		case doc == "":
			t.Errorf("%s takes no documented source", fn.name)
		case !strings.Contains(doc, `+defaultPath="/"`) || !strings.Contains(doc, `+ignore=[`):
			t.Errorf("%s's source has no default or ignore list: %s", fn.name, doc)
		case want == "":
			want = doc
		case doc != want:
			t.Errorf("%s's source differs from the others':\n%s\nwant:\n%s", fn.name, doc, want)
		}
	}
}
