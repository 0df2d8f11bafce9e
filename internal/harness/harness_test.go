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

// A long Error: block keeps its head and its end (a traceback's exception),
// a short one is whole, and a message without one keeps its first lines.
func TestGist(t *testing.T) {
	long := "call failed\nprogress\n  Error: check exited with 1:\n  a\n  b\n  Traceback (most recent call last):\n    File \"x.py\"\n    raise e\n  ValueError: bad\n\nlater"
	want := "call failed\n    Error: check exited with 1:\n    a\n    b\n    Traceback (most recent call last):\n    …\n    raise e\n    ValueError: bad"
	if got := Gist(long); got != want {
		t.Errorf("Gist(long) =\n%s\nwant\n%s", got, want)
	}
	if got, want := Gist("x\n\x1b[31mError: no\x1b[0m\ny"), "x\n    Error: no\n    y"; got != want {
		t.Errorf("Gist(short) = %q, want %q", got, want)
	}
	if got, want := Gist("one\ntwo\nthree\nfour"), "one\n    two\n    three"; got != want {
		t.Errorf("Gist(plain) = %q, want %q", got, want)
	}
}

// An exec ran when its own span has output; a cached one, one loaded from
// the disk cache (DONE without output), or one with no line of its own
// beyond its command, did not.
func TestExecRan(t *testing.T) {
	plain := strings.Join([]string{
		"37  : ┆ withExec sh /usr/local/lib/dataplatform/install-packages.sh packages.txt /tmp/x",
		"43  : ┆ withExec python3 /usr/local/lib/dataplatform/install-requirements.py requirements.txt",
		"43  : ┆ [1.2s] | requirements.txt: installed beside apache-airflow==3.1.7",
		"28  : ┆ withExec sh /usr/local/lib/dataplatform/find-holders.sh postgres:5432",
		"29  : ┆ [0.0s] | another span's output, between",
		"28  : ┆ [0.3s] | postgres:5432 is free",
		"28  : ┆ Container.withExec DONE [0.4s]",
		"35  : ┆ withExec sh /usr/local/lib/dataplatform/install-packages.sh packages.txt /tmp/x",
		"35  : ┆ Container.withExec DONE [0.0s]",
		"51  : ┆ withExec sh /usr/local/lib/dataplatform/dbt-deps.sh",
		"51  : ┆ Container.withExec CACHED [0.0s]",
	}, "\n")
	for what, ran := range map[string]bool{"install-requirements.py": true, "find-holders.sh": true,
		"install-packages.sh": false, "dbt-deps.sh": false, "no-such-step": false} {
		if got := ExecRan(plain, what); got != ran {
			t.Errorf("%s: ran %v, want %v", what, got, ran)
		}
	}
}
