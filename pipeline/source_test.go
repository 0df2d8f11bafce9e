package pipeline

import (
	"strings"
	"testing"
)

// Every function of the module takes the project as its own `source` (the
// constructor takes none, so that an edit never makes Dagger run it
// again), and every one of them the same way: the same default and the
// ignore list made from the one list of the project's files
// (ProjectFiles), so no function sees other files of the project than the
// rest, and none sees a copy of the module's own scripts.
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
		case fn.name == "New" || fn.name == "LiveClient":
			// The constructor (an edit would run it again), and what
			// builds from the module alone.
			if takes {
				t.Errorf("%s takes the project's files", fn.name)
			}
		case doc == "":
			t.Errorf("%s takes no documented source", fn.name)
		case !strings.Contains(doc, `+defaultPath="/"`) || !strings.Contains(doc, SourcePragma()) ||
			!strings.Contains(strings.Join(strings.Fields(doc), " "), SourceDoc()):
			t.Errorf("%s's source is not what ProjectFiles says (go generate writes it): %s", fn.name, doc)
		case want == "":
			want = doc
		case doc != want:
			t.Errorf("%s's source differs from the others':\n%s\nwant:\n%s", fn.name, doc, want)
		}
	}
}
