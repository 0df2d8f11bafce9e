package pipeline

import (
	"bufio"
	"fmt"
	"strings"
)

// ParseDotenv reads a compose-style .env file: KEY=VALUE lines, blank lines
// and # comments, an optional "export " prefix, values optionally in single
// or double quotes. A line without "=" is an error naming its line number,
// so a typo never silently drops a setting.
func ParseDotenv(content string) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(content))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok {
			return nil, fmt.Errorf(".env line %d: %q has no '=' (expected NAME=VALUE)", n, line)
		}
		if !validEnvName(key) {
			return nil, fmt.Errorf(".env line %d: %q is not a valid variable name", n, key)
		}
		vars[key] = unquote(strings.TrimSpace(value))
	}
	return vars, sc.Err()
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// unquote strips matching quotes; unquoted values lose a trailing " # comment".
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}
