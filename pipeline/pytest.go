package pipeline

// PytestVersion is the pytest the project's tests run with, installed on
// top of the project's Airflow image (beside Airflow at the image's own
// version), unless its requirements bring their own.
const PytestVersion = "9.2.0"

// PytestJUnit is where pytest leaves its JUnit XML report.
const PytestJUnit = "/tmp/dataplatform-pytest/junit.xml"

// Pytest runs the project's tests/ with pytest (its own discovery, and
// args after it), in the project's Airflow image, dags/ and plugins/
// importable as in the stack, the project's dbt/ and config/ where the
// stack has them; no stack, no database (Airflow's default SQLite).
func Pytest(c Config, args []string) Spec {
	s := airflow(c, "pytest", Job, append([]string{"python3", "-m", "pytest", AirflowHome + "/tests", "--junitxml=" + PytestJUnit, "-p", "no:cacheprovider"}, args...))
	s.Volumes = nil
	s.Mounts = append(s.Mounts,
		Mount{Path: AirflowHome + "/tests", Source: "tests", Dir: true},
		Mount{Path: AirflowHome + "/dags", Source: c.LiveFolder("dags"), Dir: true, Optional: true},
		Mount{Path: AirflowHome + "/plugins", Source: c.LiveFolder("plugins"), Dir: true, Optional: true},
		Mount{Path: DbtProject, Source: "dbt", Dir: true, Optional: true})
	s.Env["PYTHONPATH"] = AirflowHome + "/dags:" + AirflowHome + "/plugins"
	s.ImageSteps = []ImageStep{{What: "pytest (the module's, for the project's tests)",
		Args: []string{"python3", installRequirementsScript, "pytest", "pytest==" + PytestVersion}}}
	s.Output = PytestJUnit
	return s
}
