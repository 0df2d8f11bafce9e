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
// order of Config, each with where its value came from, secrets shown as ***;
// then Airflow's own settings from .env, and the warnings.
func Describe(c Config) string {
	var b strings.Builder
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		name := envName(v.Type().Field(i))
		if name == "" {
			continue
		}
		val := fmt.Sprint(v.Field(i).Interface())
		if SecretArgs[name] != "" && val != "" {
			val = "***"
		}
		fmt.Fprintf(&b, "%s=%s  # %s\n", name, val, c.Origin[name])
	}
	for _, name := range sortedKeys(c.AirflowSettings) {
		fmt.Fprintf(&b, "%s=%s  # .env, passed to Airflow\n", name, c.AirflowSettings[name])
	}
	for _, name := range sortedKeys(c.AirflowSecrets) {
		fmt.Fprintf(&b, "%s=***  # .env, passed to Airflow as a secret\n", name)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "# warning: %s\n", w)
	}
	return b.String()
}
