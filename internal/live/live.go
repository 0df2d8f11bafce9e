// Package live keeps a running stack's live folders (dags/, plugins/) the
// project's, from the developer's machine, as each file is saved: the
// receiver in the stack (scripts/live-receiver.py) takes each change, and
// Airflow is asked to parse the changed DAG files at once. cmd/live is its
// command; the e2e tests and the benchmark run it.
package live

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Ignored: files that never go to the stack: hidden ones (editors' swap
// and lock files), backups (name~), bytecode.
func Ignored(rel string) bool {
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part == "" || part == "__pycache__" || strings.HasPrefix(part, ".") || strings.HasSuffix(part, "~") {
			return true
		}
	}
	return strings.HasSuffix(rel, ".pyc")
}

// isGenerated: rel is below one of the generated names of its folder.
func isGenerated(generated []string, rel string) bool {
	first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
	return slices.Contains(generated, first)
}

// Tree is a set of files by path ("dags/a.py") with their SHA-256.
type Tree map[string]string

// Local reads the project's live folders: folder name -> the folder on
// this machine; generated names, by folder, what tools write at its top
// (dbt's target/), which never goes to the stack.
func Local(folders map[string]string, generated map[string][]string) (Tree, error) {
	tree := Tree{}
	for name, dir := range folders {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == dir {
					return filepath.SkipDir // a folder the project does not have (plugins/)
				}
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if rel != "." && (Ignored(rel) || isGenerated(generated[name], rel)) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			tree[path.Join(name, filepath.ToSlash(rel))] = hex.EncodeToString(sum[:])
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return tree, nil
}

// Diff is what makes remote the same as local: files to send (new or
// changed) and files to delete, each sorted.
func Diff(local, remote Tree) (send, remove []string) {
	for p, sum := range local {
		if remote[p] != sum {
			send = append(send, p)
		}
	}
	for p := range remote {
		if _, ok := local[p]; !ok {
			remove = append(remove, p)
		}
	}
	slices.Sort(send)
	slices.Sort(remove)
	return send, remove
}

// Receiver is the stack's receiver of live edits, at its host port.
type Receiver struct {
	URL    string // e.g. http://localhost:8090
	Key    string // the project's live key (`dagger call live-key`)
	Client *http.Client
}

// errNotFound is a 404 of the receiver.
var errNotFound = errors.New("not found")

func (r Receiver) do(method, p string, body []byte, out any) error {
	req, err := http.NewRequest(method, r.URL+p, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.Key)
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s %s: %w", method, p, errNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, p, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Remote lists the stack's live folders.
func (r Receiver) Remote() (Tree, error) {
	var listing map[string]map[string]string
	if err := r.do("GET", "/files", nil, &listing); err != nil {
		return nil, err
	}
	tree := Tree{}
	for name, files := range listing {
		for p, sum := range files {
			tree[path.Join(name, p)] = sum
		}
	}
	return tree, nil
}

// Put sends one file ("dags/a.py") with its content, and returns the
// SHA-256 of what the stack wrote.
func (r Receiver) Put(p string, content []byte) (string, error) {
	var answer struct {
		SHA256 string `json:"sha256"`
	}
	err := r.do("PUT", "/files/"+p, content, &answer)
	return answer.SHA256, err
}

// Stamp is the dag-processor's stamp of a DAG file: the SHA-256 of the
// bytes it last compiled, and when it read them (by the stack's clock).
type Stamp struct {
	SHA256 string  `json:"sha256"`
	At     float64 `json:"at"` // seconds since the epoch
}

// Read is when the stamped parse read the file.
func (s Stamp) Read() time.Time { return time.UnixMicro(int64(s.At * 1e6)) }

// Parsed is the stamp of a DAG file ("dags/a.py"); false when Airflow has
// not compiled it since the stack started.
func (r Receiver) Parsed(p string) (Stamp, bool, error) {
	var s Stamp
	err := r.do("GET", "/parsed/"+p, nil, &s)
	if errors.Is(err, errNotFound) {
		return s, false, nil
	}
	return s, err == nil, err
}

// Delete removes one file from the stack.
func (r Receiver) Delete(p string) error { return r.do("DELETE", "/files/"+p, nil, nil) }

// SkippedByAirflow: Airflow's safe mode (on by default) parses only a
// Python file that mentions "airflow", and "dag" or "asset" (its default
// heuristic), so such a file never shows a DAG or an import error.
func SkippedByAirflow(content []byte) bool {
	c := bytes.ToLower(content)
	return !bytes.Contains(c, []byte("airflow")) || !bytes.Contains(c, []byte("dag")) && !bytes.Contains(c, []byte("asset"))
}

var traceLine = regexp.MustCompile(`File "([^"]+)", line (\d+)`)

// ImportError is where an import error's stack trace points in the DAG
// file rel (its last frame there, 0 if none) and the error itself (the
// trace's last line).
func ImportError(stackTrace, rel string) (line int, message string) {
	for _, m := range traceLine.FindAllStringSubmatch(stackTrace, -1) {
		if strings.HasSuffix(m[1], "/"+rel) || m[1] == rel {
			fmt.Sscan(m[2], &line)
		}
	}
	lines := strings.Split(strings.TrimSpace(stackTrace), "\n")
	return line, strings.TrimSpace(lines[len(lines)-1])
}

// DbtNode is one line of the stack's warm dbt's build: a node's result, or
// the error that stopped dbt before any node ran, or the build's end.
type DbtNode struct {
	Node     string   `json:"node"`
	Type     string   `json:"type"`
	File     string   `json:"file"`
	Status   string   `json:"status"`
	Rows     *int     `json:"rows"`
	Failures *int     `json:"failures"`
	Seconds  float64  `json:"seconds"`
	Message  string   `json:"message"`
	Error    string   `json:"error"`
	Exit     *float64 `json:"exit"`
}

// BuildDbt asks the stack's warm dbt to build what changed since its last
// build (through the receiver), and hands each line of the result to each
// as it comes.
func (r Receiver) BuildDbt(each func(DbtNode)) error {
	req, err := http.NewRequest("POST", r.URL+"/dbt/build", bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.Key)
	resp, err := (&http.Client{Timeout: time.Hour}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST /dbt/build: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64<<10), 4<<20)
	for lines.Scan() {
		var n DbtNode
		if json.Unmarshal(lines.Bytes(), &n) == nil {
			each(n)
			if n.Exit != nil {
				return nil // the last line: the host port may never say the body ended
			}
		}
	}
	return lines.Err()
}

var nearToken = regexp.MustCompile(`at or near "([^"]+)"`)

// Describe is how the live command says a node's result, e.g. "model
// stg_orders: success, 40 rows, 1.20 s" or "test x: fail, 3 failures";
// an error names the file, and the line where dbt or the database says
// (a database's syntax error by the line of the model's file holding the
// text it points at, read in dir, the project's dbt folder).
func (n DbtNode) Describe(dir string) string {
	if n.Error != "" {
		return "error: " + oneLine(n.Error)
	}
	var parts []string
	parts = append(parts, n.Status)
	if n.Rows != nil && n.Type != "test" { // a test's rows are its count query's one
		parts = append(parts, fmt.Sprintf("%d rows", *n.Rows))
	}
	if n.Failures != nil && *n.Failures > 0 {
		parts = append(parts, fmt.Sprintf("%d failures", *n.Failures))
	}
	parts = append(parts, fmt.Sprintf("%.2f s", n.Seconds))
	out := fmt.Sprintf("%s %s: %s", n.Type, n.Node, strings.Join(parts, ", "))
	if n.Status == "error" || n.Status == "fail" || n.Status == "warn" {
		where := n.File
		if m := nearToken.FindStringSubmatch(n.Message); m != nil && n.File != "" {
			if data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n.File))); err == nil {
				for i, line := range strings.Split(string(data), "\n") {
					if strings.Contains(line, m[1]) {
						where = fmt.Sprintf("%s line %d", n.File, i+1)
						break
					}
				}
			}
		}
		if where != "" {
			out += " (" + where + ")"
		}
		if n.Message != "" {
			out += ": " + oneLine(n.Message)
		}
	}
	return out
}

// oneLine is a message's lines joined, indentation dropped.
func oneLine(s string) string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return strings.Join(out, " | ")
}
