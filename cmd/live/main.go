// Command live sends every save of the project's dags/ and plugins/ to the
// project's running stack, with nothing typed: start it once beside
// `dagger call up up` (or with --up, instead of it), then edit. It says,
// for each DAG file, what Airflow made of it: its DAGs, or the import error
// with the file and line. Ctrl-C stops it (and the stack it started).
//
//	go run ./cmd/live [--up] [--set NAME=VALUE]...
//
// It reads the project's .env as the module does, with the same --set
// overrides: LIVE_PORT and AIRFLOW_API_PORT say where the stack is, the
// admin's login (AIRFLOW_WWW_USER, AIRFLOW_WWW_PASSWORD, which the
// environment variable AIRFLOW_WWW_PASSWORD overrides) opens it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/internal/live"
	"dagger/data-platform/pipeline"
)

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var set setFlags
	up := flag.Bool("up", false, "also run the stack (`dagger call up up` with the same --set), stopped with this command")
	dir := flag.String("project", ".", "the project: where dagger.json and .env are")
	flag.Var(&set, "set", "override one .env value, as NAME=VALUE (repeatable), as for the module")
	flag.Parse()
	if err := run(*dir, set, *up); err != nil {
		fmt.Fprintln(os.Stderr, "live:", err)
		os.Exit(1)
	}
}

func run(dir string, set []string, up bool) error {
	dotenv, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	in := pipeline.Input{Dotenv: string(dotenv), Set: set, Secrets: map[string]string{}}
	if pw, ok := os.LookupEnv("AIRFLOW_WWW_PASSWORD"); ok {
		in.Secrets["AIRFLOW_WWW_PASSWORD"] = pw
	}
	cfg, err := pipeline.LoadConfig(context.Background(), in)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if up {
		var module []string
		for _, s := range set {
			module = append(module, "--set", s)
		}
		stack, err := harness.Project{Dir: dir}.Start(os.Stderr, module, "up", "up")
		if err != nil {
			return err
		}
		defer stack.Stop(time.Minute)
	}
	w := &live.Watcher{
		Folders: map[string]string{},
		Receiver: live.Receiver{URL: fmt.Sprintf("http://localhost:%d", cfg.LivePort),
			User: cfg.AirflowWWWUser, Password: cfg.AirflowWWWPassword},
		API:    fmt.Sprintf("http://localhost:%d", cfg.AirflowAPIPort),
		Out:    os.Stdout,
		Settle: 50 * time.Millisecond,
	}
	for _, f := range pipeline.LiveFolders {
		w.Folders[f] = filepath.Join(dir, cfg.LiveFolder(f))
	}
	// The receiver answers once the stack is up.
	for waited := time.Duration(0); ; waited += time.Second {
		if _, err := w.Receiver.Remote(); err == nil {
			break
		} else if waited%(30*time.Second) == 0 {
			fmt.Fprintf(os.Stderr, "live: waiting for the stack's receiver on %s (is `dagger call up up` running?): %v\n", w.Receiver.URL, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	return w.Run(ctx)
}
