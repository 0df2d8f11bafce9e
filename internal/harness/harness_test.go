package harness

import (
	"slices"
	"strings"
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

// The column goes before the model's FROM line; a model without one is an
// error, not a silent copy.
func TestWithColumn(t *testing.T) {
	got, err := WithColumn([]byte("select\n    id\nfrom {{ ref('x') }}\n"), "c", "v1")
	if want := "select\n    id,\n    'v1' as c\nfrom {{ ref('x') }}\n"; err != nil || string(got) != want {
		t.Errorf("WithColumn = %q (%v), want %q", got, err, want)
	}
	if _, err := WithColumn([]byte("select 1\n"), "c", "v1"); err == nil || !strings.Contains(err.Error(), "no FROM line") {
		t.Errorf("a model without FROM: %v", err)
	}
}
