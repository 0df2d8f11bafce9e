package pipeline

import (
	"fmt"
	"regexp"
)

// A worker node is Celery workers on another machine that join a running
// stack, the CeleryExecutor's way to grow: they take tasks from the
// stack's Valkey, keep results in its PostgreSQL and report to its
// api-server, all through the ports the stack has on its host (`up
// --remote-workers` adds Valkey's). What crosses the network is
// authenticated by the passwords of the shared .env, not encrypted (see
// docs/scaling-out.md).

// JobRemoteCheck checks a worker node's way to the stack before any worker
// starts, and makes its volumes ready.
const JobRemoteCheck = "remote-check"

// HostLogServer serves a worker node's task logs to the stack's api-server.
const HostLogServer = "airflow-log-server"

// WorkerHostnameCallable reports a worker's tasks under a name of the
// module's choosing (python/worker_hostname.py of the module's scripts): a
// stack's worker's own name, a node's address (where the api-server
// fetches their logs).
const WorkerHostnameCallable = "worker_hostname.advertised"

// Node is where a worker node's stack is, and where the stack finds it.
type Node struct {
	// Stack is the address of the stack's machine, as this one reaches it.
	Stack string
	// Advertise is this machine's address, as the stack's machine reaches
	// it: the api-server reads task logs from its port 8793.
	Advertise string
}

// hostnameRe matches host names and IPv4 addresses. IPv6 addresses are
// refused: Airflow writes a worker's log address as http://HOST:PORT.
var hostnameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// check refuses addresses that are not a bare host name or IPv4 address.
func (n Node) check() error {
	for _, a := range []struct{ arg, value string }{{"stack", n.Stack}, {"advertise", n.Advertise}} {
		if !hostnameRe.MatchString(a.value) {
			return fmt.Errorf("%s: %q is not a host name or IPv4 address (no scheme, no port: the ports are the .env's)", a.arg, a.value)
		}
	}
	return nil
}

// config is c on the node: its containers reach the stack's services at
// the stack's address and host ports; its volumes are the node's own.
func (n Node) config(c Config) Config {
	c.stack = n.Stack
	c.ProjectName += "-node"
	return c
}

// specs are the node's containers: the check, the workers, their log
// server and a gateway carrying its port to the host.
func (n Node) specs(c Config, workers int) []Spec {
	all := []Spec{RemoteCheck(c), n.logServer(c)}
	for i := 1; i <= workers; i++ {
		all = append(all, n.worker(c, i))
	}
	return withGateway(all, gateway(c, []Forward{{PortWorkerLog, HostLogServer, PortWorkerLog}}))
}

// RemoteCheck fails, naming the variable, when the stack's Valkey,
// PostgreSQL or api-server cannot be reached or refuses the node's
// password (scripts/remote-check.py): a worker with a wrong password would
// otherwise retry for most of an hour. As init does on the stack, it gives
// the node's volumes to AIRFLOW_UID and copies the node's own dags/ and
// plugins/ into them: the workers run the DAG files of this checkout.
func RemoteCheck(c Config) Spec {
	s := withCredentials(c, airflow(c, JobRemoteCheck, Job, []string{"python3", remoteCheckScript}),
		SecretSQLAlchemyConn, SecretBrokerURL)
	s.AsRoot = ownVolumes(c)
	s.Env["DATAPLATFORM_STACK_API"] = c.apiServerURL()
	return withLiveFolders(c, s, "")
}

// worker is the node's Celery worker i: the stack's worker (its Execution
// API at the stack's address, see Config.apiServerURL), started once the
// check passed, its tasks recorded under the node's address. The node's
// log server serves their logs, so N workers share one port.
func (n Node) worker(c Config, i int) Spec {
	s := celeryWorker(c, i, n.Advertise, "--skip-serve-logs")
	s.Needs, s.Reaches, s.Ports = []string{JobRemoteCheck}, nil, nil
	return reportedAs(s, n.Advertise)
}

// logServer serves the node's task logs (Airflow's log server alone),
// checking that each request is signed with the stack's key.
func (n Node) logServer(c Config) Spec {
	s := supervise(withCredentials(c, airflow(c, HostLogServer, Service,
		[]string{"python3", "-m", "airflow.utils.serve_logs.core"}, JobRemoteCheck), SecretLogServerKey), "TERM")
	s.Ports = []int{PortWorkerLog}
	return reportedAs(s, n.Advertise)
}
