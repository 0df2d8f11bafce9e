package pipeline

import (
	"fmt"
	"reflect"
	"strings"
)

// SplitArgs splits a command line the way a POSIX shell would for plain words,
// single and double quotes (no expansion). arg names the argument in errors.
func SplitArgs(arg, line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		inW   bool
		quote rune
	)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inW = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inW {
				words, inW = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			inW = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("--%s: unterminated %c quote in %q", arg, quote, line)
	}
	if inW {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("--%s: empty command line", arg)
	}
	return words, nil
}

// Describe lists the effective configuration as NAME=VALUE lines in the
// order of Config, with secrets shown as ***.
func Describe(c Config) string {
	secret := map[string]bool{
		"POSTGRES_PASSWORD": true, "VALKEY_PASSWORD": true, "AIRFLOW_DB_PASSWORD": true,
		"DBT_DB_PASSWORD": true, "AIRFLOW_WWW_PASSWORD": true, "AIRFLOW_FERNET_KEY": true,
		"AIRFLOW_JWT_SECRET": true,
	}
	var b strings.Builder
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("env"), ",")
		val := fmt.Sprint(v.Field(i).Interface())
		if secret[name] && val != "" {
			val = "***"
		}
		fmt.Fprintf(&b, "%s=%s\n", name, val)
	}
	return b.String()
}
