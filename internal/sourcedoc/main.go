// Command sourcedoc writes, into the module's Go files, every function's
// source argument from the one list of a project's files
// (pipeline.ProjectFiles): its documentation and its +ignore pragma.
// Dagger reads pragmas from comments, which cannot name a Go constant;
// `go generate` runs this after the list changes, and a unit test fails
// while a function's argument differs from it.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"dagger/data-platform/pipeline"
)

// sourceArg is a source argument's comment block and declaration.
var sourceArg = regexp.MustCompile(`(?m)^(\t// The project:[^\n]*\n(?:\t//[^\n]*\n)*?)(\t// \+defaultPath="/"\n)\t// \+ignore=\[[^\n]*\]\n(\tsource \*dagger\.Directory,)`)

func main() {
	files, err := filepath.Glob("*.go")
	if err != nil {
		fail(err)
	}
	doc := wrap(pipeline.SourceDoc(), 76)
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			fail(err)
		}
		out := sourceArg.ReplaceAllString(string(data), doc+"$2\t// "+pipeline.SourcePragma()+"\n$3")
		if out != string(data) {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				fail(err)
			}
		}
	}
}

// wrap is text as Go comment lines of a function's argument.
func wrap(text string, width int) string {
	var b, line strings.Builder
	for _, word := range strings.Fields(text) {
		if line.Len() > 0 && line.Len()+1+len(word) > width {
			b.WriteString("\t// " + line.String() + "\n")
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(word)
	}
	b.WriteString("\t// " + line.String() + "\n")
	return b.String()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sourcedoc:", err)
	os.Exit(1)
}
