package pipeline

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/sirupsen/logrus"
)

func init() {
	// compose-go's interpolation warns about unset variables through logrus;
	// ParseDotenv reports them itself (Dotenv.Unset), once.
	logrus.SetOutput(io.Discard)
}

// Dotenv is what a .env file gave: its variables, exactly as docker compose
// reads them, every problem found (each naming its line), and the variables
// it interpolates without defining them.
type Dotenv struct {
	Vars     map[string]string
	Problems []error
	// Unset: ${NAME} references to names the file does not define. Compose
	// would take them from the shell's environment; the module sees only the
	// file, so they are empty here.
	Unset []string
}

// maxDotenvProblems bounds how many bad lines are reported from one file.
const maxDotenvProblems = 20

var problemLineRe = regexp.MustCompile(`^line (\d+): `)

// ParseDotenv reads a .env file with docker compose's own parser
// (compose-go's dotenv): quotes, escapes in double quotes, comments, `export`,
// ${VAR} / ${VAR:-default} interpolation, CRLF. Compose stops at the first
// bad line; here that line is reported, blanked, and the rest read again, so
// every bad line and every good value are known at once.
func ParseDotenv(content string) Dotenv {
	content = strings.ReplaceAll(content, "\r\n", "\n")
	lines := strings.Split(content, "\n")
	var out Dotenv
	for {
		looked := map[string]bool{}
		lookup := func(name string) (string, bool) {
			looked[name] = true
			return "", false // no shell environment: only the file's own lines
		}
		vars, err := dotenv.ParseWithLookup(strings.NewReader(strings.Join(lines, "\n")), lookup)
		if err == nil || len(out.Problems) == maxDotenvProblems {
			if v, ok := vars[""]; ok {
				// compose reads a last line without '=' as a value without a name
				out.Problems = append(out.Problems, fmt.Errorf(".env line %d: %q is not NAME=VALUE", lineOf(lines, v), v))
				delete(vars, "")
			}
			out.Vars = vars
			for name := range looked {
				if _, ok := vars[name]; !ok {
					out.Unset = append(out.Unset, name)
				}
			}
			sort.Strings(out.Unset)
			return out
		}
		n := problemLine(err, lines)
		if n < 1 {
			out.Problems = append(out.Problems, fmt.Errorf(".env: %v", err))
			out.Vars = map[string]string{}
			return out
		}
		msg := problemLineRe.ReplaceAllString(err.Error(), "")
		out.Problems = append(out.Problems, fmt.Errorf(".env line %d: %s", n, msg))
		lines[n-1] = ""
	}
}

// problemLine is the 1-based line a parse error is about, or 0. The parser
// counts an unterminated quote's line at the end of the file, so that error
// is traced back to the line where the quoted value starts.
func problemLine(err error, lines []string) int {
	msg := err.Error()
	if _, value, ok := strings.Cut(msg, ": unterminated quoted value "); ok {
		for i, l := range lines {
			if strings.ContainsAny(l, "=:") && strings.HasSuffix(strings.TrimRight(l, " \t"), value) {
				return i + 1
			}
		}
	}
	m := problemLineRe.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	if n > len(lines) {
		return 0
	}
	return n
}

// lineOf is the 1-based number of the last line that reads text, or 0.
func lineOf(lines []string, text string) int {
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) == text {
			return i + 1
		}
	}
	return 0
}
