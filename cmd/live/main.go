// Command live sends every save of the project's dags/, plugins/ and dbt/
// to the project's running stack, with nothing typed: start it once beside
// `dagger call up up` (or with --up, instead of it), then edit. It says,
// for each DAG file, what Airflow made of it: its DAGs, or the import error
// with the file and line; for each save of dbt/, what the stack's warm dbt
// built of what changed (the changed models and their tests): each node's
// result, or the error with its file and line. Ctrl-C stops it (and the
// stack it started).
//
//	live [--project DIR] [-m MODULE] [--up] [--no-dbt] [--set NAME=VALUE]...
//
// It reads the project's .env as the module does, with the same --set
// overrides: LIVE_PORT and AIRFLOW_API_PORT say where the stack is. The
// stack's receiver opens only to the project's live key, which it fetches
// through the module (`dagger call live-key`) when it starts; the admin's
// login (AIRFLOW_WWW_USER, AIRFLOW_WWW_PASSWORD, which the environment
// variable AIRFLOW_WWW_PASSWORD overrides) reads Airflow's REST API.
//
// Built by the module for any project (`dagger call live-client`), or run
// here as `go run ./cmd/live`.
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
	noDbt := flag.Bool("no-dbt", false, "leave dbt/ alone: only dags/ and plugins/ are sent")
	dir := flag.String("project", ".", "the project: where .env, dags/ and plugins/ are")
	module := flag.String("m", os.Getenv("DAGGER_MODULE"), "the data platform's Dagger module, as for `dagger -m` (default: $DAGGER_MODULE; without either, the module of the current directory, as for `dagger call`)")
	flag.Var(&set, "set", "override one .env value, as NAME=VALUE (repeatable), as for the module")
	flag.Parse()
	if err := run(*dir, *module, set, *up, !*noDbt); err != nil {
		fmt.Fprintln(os.Stderr, "live:", err)
		os.Exit(1)
	}
}

func run(dir, module string, set []string, up, dbt bool) error {
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

	source, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var flags []string
	for _, s := range set {
		flags = append(flags, "--set", s)
	}
	project := harness.Project{Dir: dir, Module: module, Source: source}
	if up {
		stack, err := project.Start(os.Stderr, flags, "up", "up")
		if err != nil {
			return err
		}
		defer stack.Stop(time.Minute)
	}
	key, _, err := project.Call(ctx, flags, "live-key", "plaintext")
	if err != nil {
		return fmt.Errorf("fetching the project's live key through the module (outside its repository, name it with -m or DAGGER_MODULE): %w", err)
	}
	w := &live.Watcher{
		Folders: map[string]string{},
		Receiver: live.Receiver{URL: fmt.Sprintf("http://localhost:%d", cfg.LivePort),
			Key: strings.TrimSpace(key)},
		API:  fmt.Sprintf("http://localhost:%d", cfg.AirflowAPIPort),
		User: cfg.AirflowWWWUser, Password: cfg.AirflowWWWPassword,
		Out:       os.Stdout,
		Settle:    50 * time.Millisecond,
		Generated: pipeline.LiveGenerated,
		Dbt:       dbt,
	}
	for _, f := range pipeline.LiveFolders {
		if f != "dbt" || dbt {
			w.Folders[f] = filepath.Join(dir, cfg.LiveFolder(f))
		}
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
