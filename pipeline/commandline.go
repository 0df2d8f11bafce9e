package pipeline

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// SplitArgs splits a command line into words as a POSIX shell reads them
// (quotes, backslashes), with mvdan.cc/sh's parser. The words are passed
// to the program as they are, without a shell: `$` expansions, `;`, pipes
// and redirections are refused rather than taken literally. arg names the
// argument in errors.
func SplitArgs(arg, line string) ([]string, error) {
	file, err := syntax.NewParser().Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, fmt.Errorf("--%s: %v", arg, err)
	}
	if len(file.Stmts) == 0 {
		return nil, fmt.Errorf("--%s: empty command line", arg)
	}
	call, ok := file.Stmts[0].Cmd.(*syntax.CallExpr)
	if len(file.Stmts) > 1 || !ok || len(call.Assigns) > 0 || len(file.Stmts[0].Redirs) > 0 || file.Stmts[0].Background {
		return nil, fmt.Errorf("--%s: %q: one command and its arguments, without ; | & or redirections (no shell runs it)", arg, line)
	}
	var words []string
	for _, w := range call.Args {
		expands := false
		syntax.Walk(w, func(n syntax.Node) bool {
			switch n.(type) {
			case *syntax.ParamExp, *syntax.CmdSubst, *syntax.ArithmExp, *syntax.ProcSubst, *syntax.ExtGlob:
				expands = true
			}
			return !expands
		})
		if expands {
			return nil, fmt.Errorf("--%s: %q: no $ expansions (no shell runs the command); put such a word in single quotes", arg, line)
		}
		word, err := expand.Literal(nil, w)
		if err != nil {
			return nil, fmt.Errorf("--%s: %v", arg, err)
		}
		words = append(words, word)
	}
	return words, nil
}
