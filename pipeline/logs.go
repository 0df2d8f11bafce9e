package pipeline

import (
	"fmt"
	"regexp"
	"slices"
)

// serviceLogMax caps one kept log: past it, the file becomes NAME.log.1.
const serviceLogMax = 4 << 20

// keepingOutput makes a long-running service copy its output (the
// supervisor's and the process's, stdout and stderr) into
// ServiceLogs/NAME.log of the project's service-logs volume, each line
// with its time (scripts/keep-output.sh): `logs` reads it, the benchmark
// reads the times, `wipe` removes it.
func keepingOutput(c Config, s Spec) Spec {
	s.KeepLog = ServiceLogs + "/" + s.Name + ".log"
	s.Volumes = append(slices.Clone(s.Volumes), c.serviceLogsVolume())
	return s
}

var serviceNameRe = regexp.MustCompile(`^(postgres|valkey|live|dbt-server|airflow-(apiserver|scheduler|dag-processor|triggerer|flower|worker-[1-9][0-9]?))$`)

// CheckLogs checks the arguments of Logs.
func CheckLogs(service string, lines int) error {
	if !serviceNameRe.MatchString(service) {
		return fmt.Errorf("--service: %q is not a service of the stack (postgres, valkey, airflow-apiserver, airflow-scheduler, airflow-dag-processor, airflow-triggerer, airflow-worker-N, airflow-flower, live, dbt-server)", service)
	}
	if lines < 1 {
		return fmt.Errorf("--tail: %d is not a positive number of lines", lines)
	}
	return nil
}

// Logs prints the last lines a service of the stack kept, whether the
// stack runs or not (see CheckLogs).
func Logs(c Config, service string, lines int) Spec {
	return Spec{Name: "logs", Kind: Job, Image: c.PostgresImage,
		Args:    []string{"sh", showLogScript, ServiceLogs, service, itoa(lines), c.ProjectName},
		Volumes: []Volume{c.serviceLogsVolume()}}
}
