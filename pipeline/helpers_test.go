package pipeline

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// stackSpecs is every container of `up` as its plan makes them: labelled,
// output kept, scripts mounted.
func stackSpecs(t *testing.T, c Config, workers int, flower bool) map[string]Spec {
	t.Helper()
	p, err := StackPlan(c, Options{Workers: workers, Flower: flower}, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	return p.Specs
}

// everySpec is the stack (two workers, Flower) and every container the
// module's functions run besides it.
func everySpec(t *testing.T, c Config) []Spec {
	t.Helper()
	var all []Spec
	for _, s := range stackSpecs(t, c, 2, true) {
		all = append(all, s)
	}
	node, err := StackPlan(c, Options{Workers: 1, Node: &Node{Stack: "10.0.0.1", Advertise: "10.0.0.2"}}, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range node.Specs {
		all = append(all, s)
	}
	return append(all, CLI(c, []string{"version"}), Shell(c), Dbt(c, []string{"debug"}), DbtCI(c, "pr1", true), DbtDocs(c), EltCheck(c),
		Sync(c), DagCheck(c, ""), Holders(c), Logs(c, "postgres", 10), Wipe(c))
}

// onHost is a container's command line as it runs on this host: the
// project's scripts from the checkout's init/, and pairs of container
// paths and host paths.
func onHost(t *testing.T, s Spec, paths ...string) []string {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, ScriptsDir, filepath.Join(repo, "init"))
	cmd := s.Command()
	for i := range cmd {
		for j := 0; j+1 < len(paths); j += 2 {
			cmd[i] = strings.ReplaceAll(cmd[i], paths[j], paths[j+1])
		}
	}
	return cmd
}

// freePort is a TCP port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
