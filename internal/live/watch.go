package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"dagger/data-platform/restapi"
)

// Watcher keeps the stack's live folders the project's as files are saved,
// and says what Airflow made of each DAG file.
type Watcher struct {
	Folders map[string]string // live folder name ("dags") -> the project's folder here
	// Generated are, by live folder, what tools write at its top (dbt's
	// target/): never sent.
	Generated map[string][]string
	Receiver  Receiver
	API       string // Airflow's REST API, e.g. http://localhost:8080
	// User and Password are the admin's login, for the REST API.
	User, Password string
	Out            io.Writer
	// Settle is how long a file must be quiet before it is sent (editors
	// write in several steps).
	Settle time.Duration
	// Dbt: the dbt folder's saves are also built, by the stack's warm dbt
	// (what changed, and its tests), and each node's result said.
	Dbt bool

	token  string
	remote map[string]bool   // the files the stack has, as far as this watcher knows
	sent   map[string]string // the SHA-256 of what each file sent holds in the stack
	// dbtSaved says a dbt file reached the stack: a build is due (one
	// pending at most; saves during a build make one more, after it).
	dbtSaved chan struct{}
	mu       sync.Mutex // w.say from the dbt builder and the watcher
}

func (w *Watcher) say(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.Out, "%s live: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Sync makes the stack's live folders exactly the project's.
func (w *Watcher) Sync() error {
	local, err := Local(w.Folders, w.Generated)
	if err != nil {
		return err
	}
	remote, err := w.Receiver.Remote()
	if err != nil {
		return err
	}
	w.remote, w.sent = map[string]bool{}, map[string]string{}
	for p := range remote {
		if name, _, _ := strings.Cut(p, "/"); w.Folders[name] == "" {
			delete(remote, p) // a folder this watcher leaves alone (dbt/ with --no-dbt)
			continue
		}
		w.remote[p] = true
	}
	send, remove := Diff(local, remote)
	return w.apply(append(send, remove...), local)
}

// Run syncs, then follows every change of the project's live folders
// until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fsw.Close()
	for _, dir := range w.Folders {
		if err := watchTree(fsw, dir); err != nil {
			return err
		}
	}
	w.dbtSaved = make(chan struct{}, 1)
	if err := w.Sync(); err != nil {
		return err
	}
	if w.Dbt {
		go w.buildDbt(ctx)
	}
	w.say("watching %s; save a file to send it (Ctrl-C stops)", strings.Join(slices.Sorted(maps.Keys(w.Folders)), ", "))
	pending := map[string]bool{}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-fsw.Errors:
			return err
		case ev := <-fsw.Events:
			p, ok := w.projectPath(ev.Name)
			if !ok {
				continue
			}
			if info, err := os.Stat(ev.Name); err == nil && info.IsDir() {
				// A new folder: watch it, and take what it already holds.
				_ = watchTree(fsw, ev.Name)
				_ = filepath.WalkDir(ev.Name, func(sub string, d fs.DirEntry, err error) error {
					if q, ok := w.projectPath(sub); err == nil && ok && !d.IsDir() {
						pending[q] = true
					}
					return nil
				})
			} else {
				pending[p] = true
			}
			settle = time.After(w.Settle)
		case <-settle:
			batch := slices.Sorted(maps.Keys(pending))
			pending = map[string]bool{}
			local, err := Local(w.Folders, w.Generated)
			if err != nil {
				w.say("reading the project: %v", err)
				continue
			}
			if err := w.apply(batch, local); err != nil {
				w.say("%v", err)
			}
		}
	}
}

// projectPath is a file of the project's live folders as the stack names
// it ("dags/a.py"); false for others and ignored files.
func (w *Watcher) projectPath(file string) (string, bool) {
	for name, dir := range w.Folders {
		rel, err := filepath.Rel(dir, file)
		if err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !Ignored(rel) && !isGenerated(w.Generated[name], rel) {
			return path.Join(name, filepath.ToSlash(rel)), true
		}
	}
	return "", false
}

func (w *Watcher) local(p string) string {
	name, rel, _ := strings.Cut(p, "/")
	return filepath.Join(w.Folders[name], filepath.FromSlash(rel))
}

// apply sends each path that local has and deletes the others, then asks
// Airflow to parse the DAG files at once and says what it made of them.
func (w *Watcher) apply(paths []string, local Tree) error {
	if len(paths) == 0 {
		return nil
	}
	before, err := w.airflowState()
	if err != nil {
		w.say("Airflow's REST API does not answer (%v): files are sent, not followed "+
			"(if the stack runs, restart `dagger call up up`: Dagger's tunnel can stop answering one port, see the README's Known limitations)", err)
	}
	var dagFiles, noDAG []string
	defer func() {
		if slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, "dbt/") }) {
			select {
			case w.dbtSaved <- struct{}{}:
			default: // a build is due already: it will take this save too
			}
		}
	}()
	for _, p := range paths {
		isDAGFile := strings.HasPrefix(p, "dags/") && strings.HasSuffix(p, ".py")
		if _, ok := local[p]; ok {
			data, err := os.ReadFile(w.local(p))
			if err != nil {
				return err
			}
			sum, err := w.Receiver.Put(p, data)
			if err != nil {
				return err
			}
			w.remote[p], w.sent[p] = true, sum
			w.say("sent %s", p)
			if isDAGFile && SkippedByAirflow(data) {
				noDAG = append(noDAG, p) // nothing to wait for
				continue
			}
		} else {
			if !w.remote[p] {
				continue // a file that came and went (an editor's temporary file)
			}
			if err := w.Receiver.Delete(p); err != nil {
				return err
			}
			delete(w.remote, p)
			w.say("deleted %s", p)
			if !before.knowsDAGsOf(p) {
				continue // a helper module, or a file that never imported: nothing to follow
			}
		}
		if isDAGFile {
			dagFiles = append(dagFiles, p)
		}
	}
	if err != nil {
		return nil
	}
	for _, p := range noDAG {
		w.say("%s: no DAG (Airflow parses only files that mention airflow and dag)", p)
	}
	if len(dagFiles) == 0 {
		return nil
	}
	w.parseNow(dagFiles, before)
	w.report(dagFiles, local, before)
	return nil
}

// dbtQuiet: a build starts once the dbt folder's saves have stopped this
// long (a save of several files, an editor's format-on-save: one build).
const dbtQuiet = 400 * time.Millisecond

// buildDbt builds, after each save of the dbt folder, what changed, one
// build at a time: saves during a build are gathered into the next.
func (w *Watcher) buildDbt(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dbtSaved:
		}
		for quiet := false; !quiet; {
			select {
			case <-ctx.Done():
				return
			case <-w.dbtSaved:
			case <-time.After(dbtQuiet):
				quiet = true
			}
		}
		start, nodes, failed := time.Now(), 0, 0
		err := w.Receiver.BuildDbt(func(n DbtNode) {
			switch {
			case n.Exit != nil && nodes == 0 && failed == 0:
				w.say("dbt: nothing changed to build (%.1f s)", time.Since(start).Seconds())
			case n.Exit != nil:
				w.say("dbt: built %d nodes, %d failed (%.1f s)", nodes, failed, time.Since(start).Seconds())
			default:
				if n.Error != "" || n.Status == "error" || n.Status == "fail" {
					failed++
				}
				if n.Error == "" {
					nodes++
				}
				w.say("dbt: %s", n.Describe(w.Folders["dbt"]))
			}
		})
		if err != nil {
			w.say("dbt: the stack's warm dbt did not build: %v", err)
		}
	}
}

// state is what Airflow knows of the DAG files: by file (relative to the
// dags folder), its DAGs' ids, their last parse, their file token; and the
// import errors.
type state struct {
	dags   map[string][]dagInfo
	errors map[string]importError
	any    string // some DAG's file token
}

// knowsDAGsOf says whether Airflow knew DAGs of the project's file p.
func (s state) knowsDAGsOf(p string) bool {
	return len(s.dags[strings.TrimPrefix(p, "dags/")]) > 0
}

type dagInfo struct {
	ID         string    `json:"dag_id"`
	File       string    `json:"relative_fileloc"`
	Token      string    `json:"file_token"`
	LastParsed time.Time `json:"last_parsed_time"` // when the parse's result was stored
}

type importError struct {
	File       string    `json:"filename"`
	Time       time.Time `json:"timestamp"` // when it was stored
	StackTrace string    `json:"stack_trace"`
}

func (w *Watcher) get(p string, out any) error {
	if w.token == "" {
		tok, err := restapi.Token(w.API, w.User, w.Password)
		if err != nil {
			return err
		}
		w.token = tok
	}
	err := restapi.Do("GET", w.API+p, w.token, nil, out)
	if err != nil && strings.Contains(err.Error(), "401") {
		w.token = "" // expired: once more with a new one
		return w.get(p, out)
	}
	return err
}

func (w *Watcher) airflowState() (state, error) {
	var dags struct {
		Dags []dagInfo `json:"dags"`
	}
	var errs struct {
		ImportErrors []importError `json:"import_errors"`
	}
	s := state{dags: map[string][]dagInfo{}, errors: map[string]importError{}}
	if err := w.get("/api/v2/dags?limit=1000", &dags); err != nil {
		return s, err
	}
	if err := w.get("/api/v2/importErrors?limit=1000", &errs); err != nil {
		return s, err
	}
	for _, d := range dags.Dags {
		s.dags[d.File] = append(s.dags[d.File], d)
		s.any = d.Token
	}
	for _, e := range errs.ImportErrors {
		s.errors[e.File] = e
	}
	return s, nil
}

// parseNow asks Airflow to parse the files now (PUT parseDagFile): each
// known file by its own token; a new one by any file's token, which makes
// the dag-processor look for new files at once too.
func (w *Watcher) parseNow(files []string, known state) {
	tokens := map[string]bool{}
	for _, p := range files {
		rel := strings.TrimPrefix(p, "dags/")
		if d := known.dags[rel]; len(d) > 0 {
			tokens[d[0].Token] = true
		} else if known.any != "" {
			tokens[known.any] = true
		}
	}
	for tok := range tokens {
		err := restapi.Do("PUT", w.API+"/api/v2/parseDagFile/"+tok, w.token, nil, nil)
		if err != nil && !strings.Contains(err.Error(), "409") { // 409: already asked
			w.say("asking Airflow to parse: %v", err)
		}
	}
}

// askAgain: how often a file whose parse has not come is asked for again
// (a parse under way when it was sent read it as it was, and the
// dag-processor may not look at it again for minutes).
const askAgain = 2 * time.Second

// report says, for each DAG file, what Airflow made of the content sent
// (waiting up to a minute): its DAGs, or its import error with the file's
// line, or that its DAGs are gone. The verdict is by content: it waits for
// the dag-processor's stamp of the file to name the bytes sent (see
// Receiver.Parsed), then for Airflow to have stored that parse's result.
func (w *Watcher) report(files []string, local Tree, before state) {
	left := slices.Clone(files)
	deadline := time.Now().Add(time.Minute)
	asked := time.Now()
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		now, err := w.airflowState()
		if err != nil {
			continue
		}
		var waiting []string
		left = slices.DeleteFunc(left, func(p string) bool {
			rel := strings.TrimPrefix(p, "dags/")
			if _, exists := local[p]; !exists {
				if len(now.dags[rel]) == 0 {
					w.say("%s: its DAGs are gone", p)
					return true
				}
				return false
			}
			stamp, stamped, err := w.Receiver.Parsed(p)
			said, done, parseAgain := contentVerdict(stamp, stamped && err == nil, w.sent[p], now.dags[rel], now.errors[rel], rel)
			if parseAgain {
				waiting = append(waiting, p)
			}
			if done {
				w.say("%s: %s", p, said)
			}
			return done
		})
		if len(waiting) > 0 && time.Since(asked) > askAgain {
			w.parseNow(waiting, now)
			asked = time.Now()
		}
	}
	for _, p := range left {
		w.say("%s: Airflow has not parsed it within a minute (no DAG in it?)", p)
	}
}

// contentVerdict is what to say of a DAG file whose content sent has the
// SHA-256 sent: nothing yet, and ask Airflow to parse it again, until the
// dag-processor's stamp names those bytes (a stamp of other bytes is a
// parse of what the file held before, whatever its time); then the
// verdict on that parse, once Airflow has stored its result.
func contentVerdict(stamp Stamp, stamped bool, sent string, dags []dagInfo, importErr importError, rel string) (said string, done, parseAgain bool) {
	if !stamped || stamp.SHA256 != sent {
		return "", false, true
	}
	said, done = verdict(stamp, dags, importErr, rel)
	return said, done, false
}

// verdict is what Airflow made of a DAG file (rel, under the dags folder)
// whose stamp names the content sent, once it has stored the result of
// that parse (a DAG or an import error stored after the stamped read);
// false while it has not.
func verdict(stamp Stamp, dags []dagInfo, importErr importError, rel string) (string, bool) {
	read := stamp.Read()
	if importErr.File != "" && !importErr.Time.Before(read) {
		line, msg := ImportError(importErr.StackTrace, rel)
		return fmt.Sprintf("import error at line %d: %s", line, msg), true
	}
	var ids []string
	for _, d := range dags {
		if !d.LastParsed.Before(read) {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return "", false
	}
	return "parsed, DAG " + strings.Join(ids, ", "), true
}

func watchTree(fsw *fsnotify.Watcher, dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && Ignored(filepath.Base(p)) {
				return filepath.SkipDir
			}
			return fsw.Add(p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
