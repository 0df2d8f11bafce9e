package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The image's layers, in order: apt, then pip, then
// _PIP_ADDITIONAL_REQUIREMENTS; a Dockerfile replaces the first two.
func TestImageSteps(t *testing.T) {
	c, err := load(t, "_PIP_ADDITIONAL_REQUIREMENTS=pkg-a==1.0 pkg-b")
	if err != nil {
		t.Fatal(err)
	}
	whats := func(steps []ImageStep) string {
		var out []string
		for _, s := range steps {
			out = append(out, s.What)
		}
		return strings.Join(out, ", ")
	}
	all := ImageSteps(c, ImageFiles{Packages: true, Requirements: true})
	if got := whats(all); got != "packages.txt, requirements.txt, _PIP_ADDITIONAL_REQUIREMENTS" {
		t.Errorf("layers %q", got)
	}
	if !all[0].AsRoot || all[1].AsRoot || all[2].AsRoot {
		t.Errorf("apt as root, pip as the image's user: %+v", all)
	}
	if all[1].File != RequirementsFile || !strings.Contains(strings.Join(all[1].Args, " "), "-r "+all[1].Copy) {
		t.Errorf("requirements.txt is not what pip reads: %+v", all[1])
	}
	if got := whats(ImageSteps(c, ImageFiles{Dockerfile: true, Packages: true, Requirements: true})); got != "_PIP_ADDITIONAL_REQUIREMENTS" {
		t.Errorf("with a Dockerfile: layers %q", got)
	}
	if got := ImageSteps(mustDefault(t), ImageFiles{}); len(got) != 0 {
		t.Errorf("a project without the files: %+v", got)
	}
	if got := ImageBuildArgs(c.AirflowImage)["AIRFLOW_IMAGE_NAME"]; got != c.AirflowImage {
		t.Errorf("the Dockerfile's base: %q", got)
	}
}

// Each layer mounts only the module's scripts it runs: a change to another
// script keeps the project's image. Each is one of the module's files.
func TestImageStepsMountTheirOwnScripts(t *testing.T) {
	c, err := load(t, "_PIP_ADDITIONAL_REQUIREMENTS=pkg-a==1.0")
	if err != nil {
		t.Fatal(err)
	}
	steps := append(ImageSteps(c, ImageFiles{Packages: true, Requirements: true}), Pytest(c, nil).ImageSteps...)
	want := []string{installPackagesScript, installRequirementsScript, installRequirementsScript, installRequirementsScript}
	if len(steps) != len(want) {
		t.Fatalf("%d layers, want %d: %+v", len(steps), len(want), steps)
	}
	for i, s := range steps {
		got := s.Scripts()
		if len(got) != 1 || got[0] != want[i] {
			t.Errorf("%s: mounts %v, want only %s", s.What, got, want[i])
			continue
		}
		if _, err := os.Stat(filepath.Join("scripts", strings.TrimPrefix(got[0], ScriptsDir+"/"))); err != nil {
			t.Errorf("%s: %v", s.What, err)
		}
	}
}

func TestDockerfileLine(t *testing.T) {
	dockerfile := "ARG AIRFLOW_IMAGE_NAME\nFROM ${AIRFLOW_IMAGE_NAME}\nRUN pip install --no-cache-dir six\nRUN python -m venv /opt/v \\\n  && /opt/v/bin/pip install nope\n"
	for cmd, want := range map[string]int{
		"pip install --no-cache-dir six":                         3,
		"python -m venv /opt/v   && /opt/v/bin/pip install nope": 4,
		"exit 1": 0,
	} {
		if got := DockerfileLine(dockerfile, cmd); got != want {
			t.Errorf("%q: line %d, want %d", cmd, got, want)
		}
	}
}

// install-requirements.py with the real pip, offline: a requirement pip
// cannot find is named by its line with pip's own words; a satisfied file
// installs; and pip's words for a conflict with Airflow name the line.
func TestInstallRequirementsNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	// The image's Airflow, as pip and importlib see an installed one.
	meta := filepath.Join(dir, "site", "apache_airflow-3.1.7.dist-info")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(meta, "METADATA"), []byte("Metadata-Version: 2.1\nName: apache-airflow\nVersion: 3.1.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(content string) (string, error) {
		req := filepath.Join(dir, "requirements.txt")
		if err := os.WriteFile(req, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("python3", "scripts/install-requirements.py", "requirements.txt", "-r", req)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(dir, "site"), "PIP_NO_INDEX=1", "PIP_FIND_LINKS="+dir,
			"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_ROOT_USER_ACTION=ignore")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("# the project's\npip\n")
	if err != nil || !strings.Contains(out, "requirements.txt: installed beside apache-airflow==3.1.7") {
		t.Fatalf("a satisfied file: %v\n%s", err, out)
	}
	out, err = run("pip  # fine\nnot-a-package-dataplatform==1.0\n")
	for _, want := range []string{"requirements.txt: pip could not install it beside apache-airflow==3.1.7",
		"requirements.txt line 2: not-a-package-dataplatform==1.0", "pip's last lines:", "No matching distribution found for not-a-package-dataplatform==1.0"} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("a requirement pip cannot find: the output lacks %q (%v):\n%s", want, err, out)
		}
	}
	if strings.Contains(out, "line 1:") {
		t.Errorf("a line pip had no trouble with is named:\n%s", out)
	}
	// pip's words for a conflict with the image's Airflow (as pip 24 writes them).
	conflict := `ERROR: Cannot install apache-airflow==3.1.7 and apache-airflow-core==3.0.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested apache-airflow-core==3.0.0
    apache-airflow 3.1.7 depends on apache-airflow-core==3.1.7`
	prog := `import importlib.util, sys
spec = importlib.util.spec_from_file_location("ir", "scripts/install-requirements.py")
ir = importlib.util.module_from_spec(spec); spec.loader.exec_module(ir)
given = ir.entries("requirements.txt", ["-r", sys.argv[1]])
print(ir.culprits(sys.stdin.read(), given))`
	req := filepath.Join(dir, "requirements.txt")
	if err := os.WriteFile(req, []byte("six\nApache_Airflow-Core==3.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", prog, req)
	cmd.Stdin = strings.NewReader(conflict)
	got, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "[('requirements.txt line 2', 'Apache_Airflow-Core==3.0.0')]" {
		t.Errorf("the conflict's culprits: %s (%v)", got, err)
	}
}
