package pipeline

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func nodePlan(t *testing.T, c Config, workers int) Plan {
	t.Helper()
	p, err := StackPlan(shared(c), Options{Workers: workers, Node: &Node{Stack: "stack.example", Advertise: "192.0.2.7"}}, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A worker node checks the stack first, then starts its workers and their
// log server, whose port alone its gateway carries to the host.
func TestWorkerNodeStartOrder(t *testing.T) {
	p := nodePlan(t, mustDefault(t), 2)
	want := [][]string{{JobRemoteCheck}, {HostLogServer, "airflow-worker-1", "airflow-worker-2"}, {HostGateway}}
	if !reflect.DeepEqual(p.Stages, want) {
		t.Fatalf("start order\n got %v\nwant %v", p.Stages, want)
	}
	if got := p.Specs[HostGateway].Ports; !slices.Equal(got, []int{PortWorkerLog}) {
		t.Errorf("the node's gateway carries %v, want only the log server's %d", got, PortWorkerLog)
	}
}

// Its containers reach the stack at its address and host ports, report
// under the node's address, and keep their data apart from a stack of the
// same project on the same engine.
func TestWorkerNodeReachesTheStackByAddress(t *testing.T) {
	c, err := load(t, "POSTGRES_PORT=15432\nVALKEY_PORT=16379\nAIRFLOW_API_PORT=18080\nCOMPOSE_PROJECT_NAME=demo")
	if err != nil {
		t.Fatal(err)
	}
	p := nodePlan(t, c, 1)
	secrets := p.Secrets()
	if got := secrets[SecretBrokerURL]; !strings.HasSuffix(got, "@stack.example:16379/0") {
		t.Errorf("broker URL %q does not name the stack's host port", got)
	}
	for _, name := range []string{SecretSQLAlchemyConn, SecretResultBackend} {
		if got := secrets[name]; !strings.Contains(got, "@stack.example:15432/airflow") {
			t.Errorf("%s %q does not name the stack's host port", name, got)
		}
	}
	w := p.Specs["airflow-worker-1"]
	if got := w.Env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]; got != "http://stack.example:18080/execution/" {
		t.Errorf("execution API %q", got)
	}
	if !slices.Contains(w.Args, "--skip-serve-logs") || !slices.Contains(w.Args, "airflow-worker-1@192.0.2.7") {
		t.Errorf("worker command line %v", w.Args)
	}
	for _, name := range []string{"airflow-worker-1", HostLogServer} {
		s := p.Specs[name]
		if s.Env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] != WorkerHostnameCallable || s.Env["DATAPLATFORM_WORKER_HOSTNAME"] != "192.0.2.7" {
			t.Errorf("%s does not report the node's address: %v", name, s.Env)
		}
		for _, v := range s.Volumes {
			if !strings.HasPrefix(v.Key, "dataplatform-demo-node-") {
				t.Errorf("%s mounts volume %q, not the node's own", name, v.Key)
			}
		}
		if slices.Contains(s.Needs, HostPostgres) || slices.Contains(s.Needs, HostValkey) || slices.Contains(s.Needs, JobInit) {
			t.Errorf("%s needs a service of the stack itself: %v", name, s.Needs)
		}
	}
	// The stack's own containers are untouched by the node's settings.
	if got := Secrets(c)[SecretBrokerURL]; !strings.HasSuffix(got, "@valkey:6379/0") {
		t.Errorf("the stack's broker URL became %q", got)
	}
}

// Only an address, without scheme or port, is taken; the error names the argument.
func TestWorkerNodeRefusesBadAddresses(t *testing.T) {
	for _, n := range []Node{{Stack: "http://a:8080", Advertise: "b"}, {Stack: "a", Advertise: "b c"}, {Stack: "", Advertise: "b"},
		{Stack: "a", Advertise: "10.0.0.2:8793"}, {Stack: "2001:db8::1", Advertise: "b"}} {
		_, err := StackPlan(mustDefault(t), Options{Workers: 1, Node: &n}, HostGateway)
		if err == nil {
			t.Errorf("%+v accepted", n)
			continue
		}
		arg := "stack: "
		if n.Stack == "a" {
			arg = "advertise: "
		}
		if !strings.HasPrefix(err.Error(), arg) || !strings.Contains(err.Error(), "is not a host name or IPv4 address") {
			t.Errorf("%+v: %v", n, err)
		}
	}
	if _, err := StackPlan(shared(mustDefault(t)), Options{Workers: 1, Node: &Node{Stack: "stack-1.lan", Advertise: "10.0.0.2"}}, HostGateway); err != nil {
		t.Errorf("a host name and an IPv4 address refused: %v", err)
	}
}

// --remote-workers opens Valkey's port and nothing else; without it, the
// stack's host ports are what they were. Only then does the api-server hold
// the key that signs its requests for a node's logs (and its UI sessions).
func TestRemoteWorkersOpenOnlyValkey(t *testing.T) {
	c := shared(mustDefault(t))
	for _, remote := range []bool{false, true} {
		p, err := StackPlan(c, Options{Workers: 1, RemoteWorkers: remote}, HostGateway)
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range p.Specs {
			if has := slices.Contains(s.Credentials(), SecretLogServerKey); has != (remote && name == HostAPIServer) {
				t.Errorf("--remote-workers=%v: %s has the log server key: %v", remote, name, has)
			}
		}
	}
	off := stackPlanPorts(t, c, Options{Workers: 1})
	on := stackPlanPorts(t, c, Options{Workers: 1, RemoteWorkers: true})
	if extra := slices.DeleteFunc(slices.Clone(on), func(p int) bool { return slices.Contains(off, p) }); !slices.Equal(extra, []int{c.ValkeyPort}) {
		t.Errorf("--remote-workers adds ports %v, want only VALKEY_PORT (%d)", extra, c.ValkeyPort)
	}
	if slices.Contains(off, c.ValkeyPort) {
		t.Errorf("Valkey is on the host without --remote-workers: %v", off)
	}
}

func stackPlanPorts(t *testing.T, c Config, o Options) []int {
	t.Helper()
	p, err := StackPlan(c, o, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	return p.Specs[HostGateway].Ports
}

// The log server key is the same on both ends without being shared by
// hand: derived from the Airflow role's password, never equal to it.
func TestLogServerKeyFollowsTheAirflowPassword(t *testing.T) {
	a, _ := load(t, "AIRFLOW_DB_PASSWORD=one")
	b, _ := load(t, "AIRFLOW_DB_PASSWORD=one\nPOSTGRES_PORT=6543")
	c, _ := load(t, "AIRFLOW_DB_PASSWORD=two")
	ka, kb, kc := Secrets(a)[SecretLogServerKey], Secrets(b)[SecretLogServerKey], Secrets(c)[SecretLogServerKey]
	if ka != kb || ka == kc || len(ka) != 64 || strings.Contains(ka, "one") {
		t.Errorf("keys %q %q %q", ka, kb, kc)
	}
}

// A stack that takes other machines' workers, and such a worker node,
// refuse the spec's default Valkey and Airflow role passwords before
// anything starts, naming each: anyone who reads the spec could otherwise
// use the broker and the metadata database, and forge UI sessions.
func TestSharedStacksRefuseTheSpecsDefaultPasswords(t *testing.T) {
	node := &Node{Stack: "10.0.0.1", Advertise: "10.0.0.2"}
	for _, c := range []struct {
		what     string
		dotenv   string
		o        Options
		refused  []string
		accepted []string
	}{
		{"--remote-workers, both defaults", "", Options{Workers: 1, RemoteWorkers: true}, []string{"VALKEY_PASSWORD", "AIRFLOW_DB_PASSWORD"}, nil},
		{"worker-node, Valkey's default", "AIRFLOW_DB_PASSWORD=own", Options{Workers: 1, Node: node}, []string{"VALKEY_PASSWORD"}, []string{"AIRFLOW_DB_PASSWORD"}},
		{"--remote-workers, the role's default", "VALKEY_PASSWORD=own", Options{Workers: 1, RemoteWorkers: true}, []string{"AIRFLOW_DB_PASSWORD"}, []string{"VALKEY_PASSWORD"}},
	} {
		cfg, err := load(t, c.dotenv)
		if err != nil {
			t.Fatal(err)
		}
		_, err = StackPlan(cfg, c.o, HostGateway)
		if err == nil {
			t.Errorf("%s: planned", c.what)
			continue
		}
		for _, name := range c.refused {
			if !strings.Contains(err.Error(), name+": ") || !strings.Contains(err.Error(), "the spec's default password") {
				t.Errorf("%s: the error does not name %s:\n%v", c.what, name, err)
			}
		}
		for _, name := range c.accepted {
			if strings.Contains(err.Error(), name) {
				t.Errorf("%s: %s, which is set, is named:\n%v", c.what, name, err)
			}
		}
	}
	if _, err := StackPlan(mustDefault(t), Options{Workers: 1}, HostGateway); err != nil {
		t.Errorf("a stack of its own refused on the default passwords: %v", err)
	}
}

// The stack's workers record their tasks under their own names (a Dagger
// container's hostname is "localhost" in every one).
func TestStackWorkersReportTheirOwnNames(t *testing.T) {
	for _, s := range stackSpecs(t, mustDefault(t), 2, false) {
		if !strings.HasPrefix(s.Name, "airflow-worker-") {
			continue
		}
		if s.Env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] != WorkerHostnameCallable || s.Env["DATAPLATFORM_WORKER_HOSTNAME"] != s.Name ||
			s.Env["PYTHONPATH"] != PythonDir {
			t.Errorf("%s records its tasks under %q (callable %q, PYTHONPATH %q)", s.Name, s.Env["DATAPLATFORM_WORKER_HOSTNAME"],
				s.Env["AIRFLOW__CORE__HOSTNAME_CALLABLE"], s.Env["PYTHONPATH"])
		}
	}
}
