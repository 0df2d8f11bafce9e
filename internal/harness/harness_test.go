package harness

import (
	"slices"
	"testing"
)

// --source goes right after the function's name, past constructor flags
// and their values, and never twice.
func TestWithSource(t *testing.T) {
	for _, c := range []struct{ args, want []string }{
		{[]string{"up", "up"}, []string{"up", "--source", "S", "up"}},
		{[]string{"--set", "A=1", "--set=B=2", "config"}, []string{"--set", "A=1", "--set=B=2", "config", "--source", "S"}},
		{[]string{"dbt", "--source", "T", "--cmd", "test"}, []string{"dbt", "--source", "T", "--cmd", "test"}},
		{[]string{"--set", "A=1"}, []string{"--set", "A=1"}},
	} {
		if got := withSource(c.args, "S"); !slices.Equal(got, c.want) {
			t.Errorf("withSource(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
