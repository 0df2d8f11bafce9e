package pipeline

// Dagger services have no restart policy. The spec's compose file restarts
// every long-running service when it dies (`restart: always`), which is what
// lets the stack ride out a killed worker or a database restart. A small
// supervisor, scripts/restart-always.sh, gives our services the same behaviour.
// (It also keeps the container alive through its process's restarts: from
// Dagger v0.21 a bound service whose container ends stops its dependants.)

// supervise makes a long-running service restart when it exits; signal
// (a `kill -s` name) is the one that stops it cleanly.
func supervise(s Spec, signal string) Spec {
	s.Restart = true
	s.StopSignal = signal
	return s
}

// Supervised is the command line that runs args under the supervisor, for
// the named service, stopped with signal.
func Supervised(name, signal string, args []string) []string {
	return append([]string{"sh", RestartScript, name, signal}, args...)
}

// IsSupervisor tells whether a process command line (argv) is the supervisor
// of the named service (e.g. to find a service's processes from the host).
func IsSupervisor(argv []string, name string) bool {
	return len(argv) > 3 && argv[0] == "sh" && argv[1] == RestartScript && argv[2] == name
}
