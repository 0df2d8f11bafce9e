package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Stack is every service of `up`, by name: the spec's compose services with
// `workers` Celery workers and, when asked, Flower. The gateway needs all the
// long-running ones, so starting it starts the whole stack.
func Stack(c Config, workers int, flower bool) (map[string]Service, error) {
	if workers < 1 || workers > 16 {
		return nil, fmt.Errorf("workers: %d is out of range (1-16)", workers)
	}
	if flower && strings.Contains(c.AirflowWWWPassword, ",") {
		// Flower reads its logins as a comma-separated list.
		return nil, fmt.Errorf("AIRFLOW_WWW_PASSWORD: Flower's login (the admin's) cannot hold a ','; change the password or run without --flower")
	}
	all := []Service{Postgres(c), Valkey(c), Init(c), APIServer(c), Scheduler(c), DagProcessor(c), Triggerer(c)}
	for i := 1; i <= workers; i++ {
		all = append(all, Worker(c, i))
	}
	if flower {
		all = append(all, Flower(c))
	}
	gw := Gateway(c, flower)
	for _, s := range all {
		if s.Name != JobInit {
			gw.Needs = append(gw.Needs, s.Name)
		}
	}
	all = append(all, gw)
	stack := map[string]Service{}
	for _, s := range all {
		if s.Restart {
			s = keepingOutput(c, s)
		}
		stack[s.Name] = labelled(s, c.ProjectName)
	}
	return stack, nil
}

// ServiceLogs is where each long-running service's output is also kept,
// in a volume of the project: `logs` reads it, `wipe` removes it.
const ServiceLogs = "/var/log/dataplatform"

// serviceLogMax caps one kept log: past it, the file becomes NAME.log.1.
const serviceLogMax = 4 << 20

// keepingOutput makes a service copy its output (the supervisor's and the
// process's, stdout and stderr) into ServiceLogs/NAME.log. The copier is
// started, detached, before the supervisor, so it is no process of the
// service's (a kill of those never cuts the service's output). When the
// folder is not writable the service runs as before.
func keepingOutput(c Config, s Service) Service {
	log := ServiceLogs + "/" + s.Name + ".log"
	// Kept lines carry the time they arrived (UTC, to the second), as
	// `docker compose logs -t` does: `logs` shows it, the benchmark reads it.
	// mawk (Debian's awk, in every image here) reads a pipe in blocks: a
	// quiet service's lines would wait in its buffer, unseen, for minutes.
	// -W interactive makes it take each line as it comes.
	copier := `awk $(awk -W version 2>&1 | grep -q mawk && echo -W interactive) -v file=` + log + fmt.Sprintf(` -v max=%d`, serviceLogMax) +
		` '{ print; fflush(); print strftime("%Y-%m-%dT%H:%M:%SZ", systime(), 1) " " $0 >> file; fflush(file); n += length($0) + 22; ` +
		`if (n > max) { close(file); system("mv " file " " file ".1"); n = 0 } }'`
	setup := fmt.Sprintf(`chmod 1777 %[1]s 2>/dev/null; if touch %[2]s 2>/dev/null; then `+
		`[ "$(wc -c < %[2]s)" -lt %[3]d ] || mv %[2]s %[2]s.1; `+
		`f=$(mktemp -u) && mkfifo "$f" && (%[4]s < "$f" &) && exec > "$f" 2>&1; fi`,
		ServiceLogs, log, serviceLogMax, copier)
	s.Prepare = append([]string{setup}, s.Prepare...)
	s.Volumes = append(slices.Clone(s.Volumes), c.serviceLogsVolume())
	return s
}

// Logs prints the last lines a service of the stack kept (see
// keepingOutput), whether the stack runs or not.
func Logs(c Config, service string, lines int) (Service, error) {
	argv, err := logsCommand(c, service, lines)
	if err != nil {
		return Service{}, err
	}
	return Service{Name: "logs", Image: c.PostgresImage, Args: argv, Volumes: []Volume{c.serviceLogsVolume()}}, nil
}

func logsCommand(c Config, service string, lines int) ([]string, error) {
	if !serviceNameRe.MatchString(service) {
		return nil, fmt.Errorf("--service: %q is not a service of the stack (postgres, valkey, airflow-apiserver, airflow-scheduler, airflow-dag-processor, airflow-triggerer, airflow-worker-N, airflow-flower)", service)
	}
	if lines < 1 {
		return nil, fmt.Errorf("--tail: %d is not a positive number of lines", lines)
	}
	log := ServiceLogs + "/" + service + ".log"
	return []string{"sh", "-c", fmt.Sprintf(`if [ ! -e %[1]s ] && [ ! -e %[1]s.1 ]; then echo "no output of %[2]s kept in project %[3]s: it has not run since the last wipe" >&2; exit 1; fi; `+
		`cat %[1]s.1 %[1]s 2>/dev/null | tail -n %[4]d`, log, service, c.ProjectName, lines)}, nil
}

var serviceNameRe = regexp.MustCompile(`^(postgres|valkey|airflow-(apiserver|scheduler|dag-processor|triggerer|flower|worker-[1-9][0-9]?))$`)

// ProjectEnv names the project in every container of a stack, as compose's
// project label does: a stack's processes can be told from another's.
const ProjectEnv = "DATAPLATFORM_PROJECT"

func labelled(s Service, project string) Service {
	env := make(map[string]string, len(s.Env)+1)
	for k, v := range s.Env {
		env[k] = v
	}
	env[ProjectEnv] = project
	s.Env = env
	return s
}

// StartOrder groups a stack into stages: each service starts once everything
// it needs (previous stages) is ready. It fails on a missing or circular need.
func StartOrder(stack map[string]Service) ([][]string, error) {
	stage := map[string]int{}
	var visit func(name string, path []string) (int, error)
	visit = func(name string, path []string) (int, error) {
		if st, ok := stage[name]; ok {
			return st, nil
		}
		for _, p := range path {
			if p == name {
				return 0, fmt.Errorf("circular start order: %v", append(path, name))
			}
		}
		s, ok := stack[name]
		if !ok {
			return 0, fmt.Errorf("%s needs %q, which is not in the stack", path[len(path)-1], name)
		}
		for _, r := range s.Reaches {
			if _, ok := stack[r]; !ok {
				return 0, fmt.Errorf("%s reaches %q, which is not in the stack", name, r)
			}
		}
		st := 0
		for _, n := range s.Needs {
			ns, err := visit(n, append(path, name))
			if err != nil {
				return 0, err
			}
			st = max(st, ns+1)
		}
		stage[name] = st
		return st, nil
	}
	names := make([]string, 0, len(stack))
	for n := range stack {
		names = append(names, n)
	}
	sort.Strings(names)
	var order [][]string
	for _, n := range names {
		st, err := visit(n, nil)
		if err != nil {
			return nil, err
		}
		for len(order) <= st {
			order = append(order, nil)
		}
		order[st] = append(order[st], n)
	}
	return order, nil
}
