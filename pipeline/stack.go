package pipeline

import (
	"fmt"
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
		stack[s.Name] = labelled(s, c.ProjectName)
	}
	return stack, nil
}

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
