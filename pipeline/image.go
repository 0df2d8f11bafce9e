package pipeline

import "strings"

// The project's Airflow image: AIRFLOW_IMAGE_NAME with the project's own
// packages, built by Dagger once and kept in its cache, keyed on the
// files' content: one image for every Airflow container of the project
// (the services, init, the CLI, the shell, the checks, a worker node). As
// Astro and Airflow's own docs have it, from files at the project's root:
//
//	packages.txt      Debian packages, one a line
//	requirements.txt  pip requirements, installed with apache-airflow at
//	                  the image's own version, so none can move Airflow
//	Dockerfile        full control: built with AIRFLOW_IMAGE_NAME as a
//	                  build argument; when present, the other two files
//	                  are its business
//
// _PIP_ADDITIONAL_REQUIREMENTS is one more layer of the same build: the
// packages compose installs at every start of every container, installed
// once.

// Files of the project's image, at the project's root.
const (
	PackagesFile     = "packages.txt"
	RequirementsFile = "requirements.txt"
	DockerfileFile   = "Dockerfile"
	DockerignoreFile = ".dockerignore"
)

// ImageFiles says which of the image's files the project has.
type ImageFiles struct {
	Dockerfile, Packages, Requirements bool
}

// ImageStep is one layer of the project's image: a file of the project
// copied in (none for _PIP_ADDITIONAL_REQUIREMENTS) and a command of the
// module's scripts that installs it, as root or as the image's own user.
// The command names File (its What) and the line at fault when it fails.
type ImageStep struct {
	What   string // the file, or the variable, the layer comes from
	File   string // the project's file, copied to Copy; "" for none
	Copy   string
	AsRoot bool
	Args   []string
}

// Scripts are the module's scripts the step runs, by their paths: only
// they are in its layer's cache key, so a change to another of the
// module's scripts rebuilds nothing of the project's image.
func (s ImageStep) Scripts() []string {
	var paths []string
	for _, a := range s.Args {
		if strings.HasPrefix(a, ScriptsDir+"/") {
			paths = append(paths, a)
		}
	}
	return paths
}

// Where a step finds its file in the build.
const imageInput = "/tmp/dataplatform-image"

// ImageSteps are the layers the module adds to AIRFLOW_IMAGE_NAME (or to
// what the project's Dockerfile built from it, see ImageBuildArgs), in
// order: Debian packages, then requirements (neither with a Dockerfile),
// then _PIP_ADDITIONAL_REQUIREMENTS. A changed file rebuilds its layer and
// those after it; an unchanged project rebuilds nothing.
func ImageSteps(c Config, f ImageFiles) []ImageStep {
	var steps []ImageStep
	if f.Packages && !f.Dockerfile {
		copied := imageInput + "/" + PackagesFile
		steps = append(steps, ImageStep{What: PackagesFile, File: PackagesFile, Copy: copied, AsRoot: true,
			Args: []string{"sh", installPackagesScript, PackagesFile, copied}})
	}
	if f.Requirements && !f.Dockerfile {
		copied := imageInput + "/" + RequirementsFile
		steps = append(steps, ImageStep{What: RequirementsFile, File: RequirementsFile, Copy: copied,
			Args: []string{"python3", installRequirementsScript, RequirementsFile, "-r", copied}})
	}
	if c.PipAdditionalReqs != "" {
		steps = append(steps, ImageStep{What: "_PIP_ADDITIONAL_REQUIREMENTS",
			Args: []string{"python3", installRequirementsScript, "_PIP_ADDITIONAL_REQUIREMENTS", c.PipAdditionalReqs}})
	}
	return steps
}

// ImageBuildArgs are a Dockerfile's build arguments: the base image
// (AIRFLOW_IMAGE_NAME's), so that `ARG AIRFLOW_IMAGE_NAME` / `FROM
// ${AIRFLOW_IMAGE_NAME}` builds on the same image as compose's `build:`
// with the same .env.
func ImageBuildArgs(base string) map[string]string {
	return map[string]string{"AIRFLOW_IMAGE_NAME": base}
}

// DockerfileLine is the line of a Dockerfile whose RUN instruction runs
// command (as BuildKit quotes it in its error), 0 when none does. A RUN
// continued over several lines is found by its first.
func DockerfileLine(dockerfile, command string) int {
	lines := strings.Split(dockerfile, "\n")
	for i := 0; i < len(lines); i++ {
		first := i
		instr := strings.TrimSpace(lines[i])
		for strings.HasSuffix(instr, "\\") && i+1 < len(lines) {
			i++
			instr = strings.TrimSuffix(instr, "\\") + " " + strings.TrimSpace(lines[i])
		}
		run, ok := strings.CutPrefix(instr, "RUN ")
		if !ok {
			continue
		}
		if strings.Join(strings.Fields(run), " ") == strings.Join(strings.Fields(command), " ") {
			return first + 1
		}
	}
	return 0
}
