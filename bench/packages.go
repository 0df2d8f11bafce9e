package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// benchPackages are the project's own packages of the packages benchmark:
// five small pure-Python ones, pinned, none of them Airflow's dependencies.
var benchPackages = []string{"pyfiglet==1.0.2", "emoji==2.14.1", "xmltodict==0.14.2", "toolz==1.0.0", "humanize==4.12.1"}

// The compose side's Dockerfiles: the module's own recipe for a
// requirements.txt (pipeline.ImageSteps, scripts/install-requirements.py)
// as a Dockerfile, and the base image alone (its packages come from
// _PIP_ADDITIONAL_REQUIREMENTS at every start).
const (
	requirementsRecipe = `ARG AIRFLOW_IMAGE_NAME=apache/airflow:3.1.7
FROM ${AIRFLOW_IMAGE_NAME}
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt
`
	baseOnly = `ARG AIRFLOW_IMAGE_NAME=apache/airflow:3.1.7
FROM ${AIRFLOW_IMAGE_NAME}
`
)

// projectFiles are the checkout's image files, put back when the benchmark
// ends (also when it fails: see must).
var projectFiles = map[string][]byte{}

func saveProjectFiles() {
	for _, f := range []string{"Dockerfile", "requirements.txt"} {
		if data, err := os.ReadFile(f); err == nil {
			projectFiles[f] = data
		}
	}
}

func restoreProjectFiles() {
	for f, data := range projectFiles {
		_ = os.WriteFile(f, data, 0o644)
	}
}

// packagesBench measures a start with the project's own packages: the
// module with them in requirements.txt (the image built once, then from
// Dagger's cache), against compose with the same recipe as a built image
// (`docker-compose build`, then `up`) and with them in
// _PIP_ADDITIONAL_REQUIREMENTS (installed at every start of every Airflow
// container). The first, uncached build of each is printed too.
func packagesBench(runs int) {
	start := time.Now()
	saveProjectFiles()
	defer restoreProjectFiles()
	mod, cmp := &module{}, &compose{}
	const firstBuild = "  first build of the image (pip install, uncached)"
	const withFile = "warm up, 5 packages in requirements.txt (compose: built image)"
	const withPip = "warm up, 5 packages in _PIP_ADDITIONAL_REQUIREMENTS"

	// A requirements.txt no cache has seen: the module builds its image.
	requirements := fmt.Sprintf("# go run ./bench -packages, %d\n%s\n", time.Now().UnixNano(), strings.Join(benchPackages, "\n"))
	must(os.WriteFile("requirements.txt", []byte(requirements), 0o644))
	must(removeIfThere("Dockerfile"))
	must(mod.Wipe())
	up(mod, nil)
	own, err := execTime(mod.tl.String(), "install-requirements.py")
	must(err)
	record(firstBuild, "s", mod.Name(), own.Seconds())

	// Compose: the same recipe, built without its cache.
	must(os.WriteFile("Dockerfile", []byte(requirementsRecipe), 0o644))
	must(cmp.Wipe())
	timed(firstBuild, cmp, func() error { _, err := composeRun("build", "--no-cache", "airflow-apiserver"); return err })
	up(cmp, nil) // init makes the database, as the module's first up did

	for r := 1; r <= runs; r++ {
		fmt.Fprintf(os.Stderr, "bench: packages, run %d/%d\n", r, runs)
		must(removeIfThere("Dockerfile"))
		recordUpAs(withFile, mod, up(mod, nil))

		must(os.WriteFile("Dockerfile", []byte(requirementsRecipe), 0o644))
		_, err := composeRun("build", "airflow-apiserver") // from docker's cache
		must(err)
		recordUpAs(withFile, cmp, up(cmp, nil))

		must(os.WriteFile("Dockerfile", []byte(baseOnly), 0o644))
		_, err = composeRun("build", "airflow-apiserver")
		must(err)
		composeEnv = []string{"_PIP_ADDITIONAL_REQUIREMENTS=" + strings.Join(benchPackages, " ")}
		recordUpAs(withPip, cmp, up(cmp, nil))
		composeEnv = nil
	}
	restoreProjectFiles()

	requireFigures(runs, map[string][]string{withFile: {mod.Name(), cmp.Name()}, withPip: {cmp.Name()}})
	requireFigures(1, map[string][]string{firstBuild: {mod.Name(), cmp.Name()}})
	printTable(runs, start)
	modUp, builtUp, pipUp := median(figures[withFile][mod.Name()]), median(figures[withFile][cmp.Name()]), median(figures[withPip][cmp.Name()])
	fmt.Println()
	fmt.Println("| target (module) | figure | verdict |")
	fmt.Println("|---|---|---|")
	verdict("warm up with packages ≤ 1.0× compose's built image", fmt.Sprintf("%.2f×", modUp/builtUp), modUp <= builtUp,
		fmt.Sprintf("%.2f s", modUp-builtUp))
	verdict("warm up with packages ≤ 0.5× compose's pip at start", fmt.Sprintf("%.2f× (%.2f s vs %.2f s)", modUp/pipUp, modUp, pipUp),
		modUp <= 0.5*pipUp, fmt.Sprintf("%.2f s", modUp-0.5*pipUp))
}

func recordUpAs(measure string, s system, u upResult) {
	record(measure, "s", s.Name(), u.total.Seconds())
}

func removeIfThere(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
