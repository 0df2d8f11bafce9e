package pipeline

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The user documentation (README.md, CONTRIBUTING.md, docs/*.md) stays
// usable: every relative link reaches a file of the repository, and every
// #anchor a heading of its file (GitHub's slugs); the README stays short
// (at most 300 lines), mentions the CI scripts' folders on one line only,
// the one that sends the reader to CONTRIBUTING.md, and keeps the test
// command CI runs (.ci/run runs "the test command written in the README").
func TestDocs(t *testing.T) {
	const root = ".." // the repository, from pipeline/
	files := []string{filepath.Join(root, "README.md"), filepath.Join(root, "CONTRIBUTING.md")}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Error("docs/ holds no Markdown file")
	}
	files = append(files, docs...)
	headings := map[string]map[string]bool{} // file -> its anchors
	anchors := func(file string) (map[string]bool, error) {
		if h, ok := headings[file]; ok {
			return h, nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		h := headingSlugs(string(data))
		headings[file] = h
		return h, nil
	}
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range markdownLinks(string(data)) {
				if problem := checkLink(file, l.target, anchors); problem != "" {
					t.Errorf("line %d: link %q: %s", l.line, l.target, problem)
				}
			}
		})
	}

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(readme), "\n"), "\n")
	if len(lines) > 300 {
		t.Errorf("README.md has %d lines; at most 300 (the rest belongs in docs/)", len(lines))
	}
	var ciLines []int
	for i, line := range lines {
		if ciPath.MatchString(line) {
			ciLines = append(ciLines, i+1)
			if !contributingLink.MatchString(line) {
				t.Errorf("README.md line %d names a path of ci/ or .ci/ without linking CONTRIBUTING.md: %s", i+1, line)
			}
		}
	}
	if len(ciLines) > 1 {
		t.Errorf("README.md names paths of ci/ or .ci/ on lines %v; only one line may, the one pointing to CONTRIBUTING.md", ciLines)
	}
	if command := ciTestCommand(t, filepath.Join(root, ".ci", "run")); !readmeTestsSectionHas(lines, command) {
		t.Errorf("README.md's section \"Tests\" lacks the test command CI runs: %s", command)
	}
}

// ciPath is a path of ci/ or .ci/ in running text: after the line's start,
// a space, a backtick, a bracket or a parenthesis.
var ciPath = regexp.MustCompile("(^|[\\s`(\\[])(\\./|\\.)?ci/")

// contributingLink is a Markdown link to CONTRIBUTING.md (of the root).
var contributingLink = regexp.MustCompile(`\]\(CONTRIBUTING\.md(#[^)]*)?\)`)

// ciTestCommand is the `go test -tags e2e ...` line of CI's entry point.
func ciTestCommand(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "go test -tags e2e") {
			return line
		}
	}
	t.Fatalf("%s runs no `go test -tags e2e` command", path)
	return ""
}

// readmeTestsSectionHas: the README's "## Tests" section holds command as
// a line of its own.
func readmeTestsSectionHas(lines []string, command string) bool {
	in := false
	for _, line := range lines {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == "Tests"
			continue
		}
		if in && strings.TrimSpace(line) == command {
			return true
		}
	}
	return false
}

// docLink is a link's target and the line it is on.
type docLink struct {
	target string
	line   int
}

var (
	fence       = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan    = regexp.MustCompile("`+[^`]*`+")
	inlineLink  = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLinkDef  = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$`)
	atxHeading  = regexp.MustCompile(`^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$`)
	urlScheme   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	headingLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// markdownLinks are the link targets of a Markdown text, outside code
// blocks and code spans: inline links and images, and reference
// definitions.
func markdownLinks(text string) []docLink {
	var out []docLink
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, docLink{m[1], i + 1})
		}
		if m := refLinkDef.FindStringSubmatch(line); m != nil {
			out = append(out, docLink{m[1], i + 1})
		}
	}
	return out
}

// checkLink says what is wrong with a link of file to target ("" when
// nothing): a relative path must name a file or folder of the repository,
// an anchor a heading of its Markdown file. Links with a scheme (https:,
// mailto:) are not checked.
func checkLink(file, target string, anchors func(string) (map[string]bool, error)) string {
	if urlScheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return ""
	}
	path, anchor, _ := strings.Cut(target, "#")
	path, err := url.PathUnescape(path)
	if err != nil {
		return "not a valid path: " + err.Error()
	}
	dest := file
	if path != "" {
		if filepath.IsAbs(path) || strings.HasPrefix(path, "/") {
			return "an absolute path; links must be relative to the linking file"
		}
		dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
		if _, err := os.Stat(dest); err != nil {
			return "no such file or folder: " + filepath.ToSlash(dest)
		}
	}
	if anchor == "" {
		return ""
	}
	if !strings.HasSuffix(dest, ".md") {
		return "an anchor into a file that is not Markdown"
	}
	h, err := anchors(dest)
	if err != nil {
		return err.Error()
	}
	if !h[anchor] {
		return "no heading of " + filepath.Base(dest) + " has the anchor #" + anchor
	}
	return ""
}

// headingSlugs are the anchors GitHub gives the headings of a Markdown
// text (outside code blocks), duplicates numbered -1, -2, ...
func headingSlugs(text string) map[string]bool {
	slugs := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		m := atxHeading.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			slugs[s+"-"+itoa(n)] = true
		} else {
			slugs[s] = true
		}
		seen[s]++
	}
	return slugs
}

// slug is GitHub's anchor of a heading: its text (a link's text only),
// lowercased, punctuation dropped but for - and _, spaces made -.
func slug(heading string) string {
	heading = strings.ToLower(headingLink.ReplaceAllString(heading, "$1"))
	var b strings.Builder
	for _, r := range heading {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The slug rules on headings of these documents, and links found or not.
func TestDocsSlugsAndLinks(t *testing.T) {
	for heading, want := range map[string]string{
		"Dagger reads `.env` too":        "dagger-reads-env-too",
		"The project's Airflow image":    "the-projects-airflow-image",
		"Live edits, with nothing typed": "live-edits-with-nothing-typed",
		"`sync`: the same, once":         "sync-the-same-once",
		"Coming from Astro CLI":          "coming-from-astro-cli",
		"A [link](x.md) in a heading":    "a-link-in-a-heading",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
	if h := headingSlugs("# A\n## A\n```\n# not a heading\n```\n"); !h["a"] || !h["a-1"] || h["not-a-heading"] {
		t.Errorf("headingSlugs: %v", h)
	}
	text := "see [x](a.md#b) and ![c](d.svg)\n`[no](code.md)`\n```\n[no](fence.md)\n```\n[ref]: e.md\n"
	var got []string
	for _, l := range markdownLinks(text) {
		got = append(got, l.target)
	}
	if strings.Join(got, " ") != "a.md#b d.svg e.md" {
		t.Errorf("markdownLinks: %v", got)
	}
	for line, want := range map[string]bool{
		"How CI runs: `ci/` and `.ci/run`, see [CONTRIBUTING.md](CONTRIBUTING.md).": true,
		"bash ci/lint":             true,
		"(ci/bootstrap)":           true,
		"ci/user-path runs it":     true,
		"./ci/stop":                true,
		".github/workflows/ci.yml": false,
		"the dbt-ci/ folder":       false,
		"docs/ci":                  false,
	} {
		if got := ciPath.MatchString(line); got != want {
			t.Errorf("ciPath on %q: %v, want %v", line, got, want)
		}
	}
}
