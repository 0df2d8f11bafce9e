//go:build e2e

package e2e

// One .env serves both systems: the compose reference stack
// (bench/compose/docker-compose.yml) and the Dagger module. These tests ask
// docker compose what it makes of the file (`config`, no daemon needed) and
// compare that with what the module's pipeline package derives from the
// same file, service by service.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/pipeline"

	"go.yaml.in/yaml/v3"
)

// TestEquivalenceEnvExample: the repository's .env.example, i.e. every default.
func TestEquivalenceEnvExample(t *testing.T) {
	recapOnFailure(t)
	root := repoRoot()
	checkEquivalence(t, root, filepath.Join(root, ".env.example"))
}

// TestEquivalenceNonDefaults: a .env that changes every variable.
//
// Passwords carry characters .env files, YAML and shells care about (quotes,
// spaces, '#', '$', '&', '*', '!', ...). The three that end up inside
// connection URLs (AIRFLOW_DB_PASSWORD, VALKEY_PASSWORD, DBT_DB_PASSWORD) are
// limited to characters a URL's user part may hold unescaped (RFC 3986
// unreserved and sub-delims, without '$'): compose pastes them into the URLs
// as they are, where '@', '/', ':', '#', '%' or a space would change the URL,
// while the module percent-encodes them. '$' is kept out of them because
// Airflow expands $NAME in settings read from the environment. So URLs are
// compared by their decoded parts, never as strings.
func TestEquivalenceNonDefaults(t *testing.T) {
	recapOnFailure(t)
	root := repoRoot()
	fernet := base64.URLEncoding.EncodeToString([]byte("equivalence-test-fernet-key-0001"))
	dotenv := strings.Join([]string{
		"# every variable of .env.example, none at its default",
		"POSTGRES_USER=pg_owner",
		`POSTGRES_PASSWORD='Pg $ecret #1 "quoted" & more'`,
		"POSTGRES_DB=app_main",
		"POSTGRES_PORT=15432",
		"POSTGRES_IMAGE_NAME=registry.example.com/library/postgres:16.4",
		"VALKEY_PASSWORD=Vk.pw~2!*(x)+;=",
		"VALKEY_IMAGE_NAME=registry.example.com/valkey/valkey:9.0.2-alpine",
		"VALKEY_MAXMEMORY=1gb",
		"AIRFLOW_DB_USER=af_meta",
		"AIRFLOW_DB_PASSWORD=Af-db.pw~1!*(x)",
		"AIRFLOW_DB_NAME=af_metadata",
		"DBT_DB_USER=dbt_runner",
		`DBT_DB_PASSWORD="dbt'pw;=+&,ok"`,
		"DBT_DB_NAME=warehouse",
		"DBT_SCHEMA=marts",
		"DBT_IMAGE_NAME=registry.example.com/dbt-labs/dbt-postgres:1.9.1",
		"AIRFLOW_UID=1000",
		"AIRFLOW_IMAGE_NAME=registry.example.com/airflow/custom:3.1.7-build.2",
		"AIRFLOW_API_PORT=18080",
		"AIRFLOW_FERNET_KEY=" + fernet,
		"AIRFLOW_WWW_USER=admin_user",
		`AIRFLOW_WWW_PASSWORD='Www $pw "x" #1 & *y*'`,
		`AIRFLOW_JWT_SECRET='jwt secret & "quotes" 0123456789'`,
		"AIRFLOW_JWT_ISSUER=https://airflow.example.com",
		"_PIP_ADDITIONAL_REQUIREMENTS=apache-airflow-providers-http==5.0.0",
		"AIRFLOW_PROJ_DIR=sub/project",
		"FLOWER_PORT=15555",
		"LIVE_PORT=18090",
		"VALKEY_PORT=16379",
		"COMPOSE_PROJECT_NAME=equivalence_check",
		"",
	}, "\n")
	file := filepath.Join(t.TempDir(), "nondefault.env")
	if err := os.WriteFile(file, []byte(dotenv), 0o600); err != nil {
		fatal(t, err)
	}
	c := checkEquivalence(t, root, file)
	// Guard the test itself: had the module not read the file, the
	// comparison above would have compared defaults with defaults.
	for name, v := range map[string]string{
		"POSTGRES_USER": c.PostgresUser, "DBT_SCHEMA": c.DbtSchema, "AIRFLOW_FERNET_KEY": c.AirflowFernetKey,
		"AIRFLOW_JWT_ISSUER": c.AirflowJWTIssuer, "COMPOSE_PROJECT_NAME": c.ProjectName,
	} {
		if c.Origin[name] != pipeline.FromDotenv {
			errorf(t, "the module took %s (%q) from %s, not from the test's .env", name, v, c.Origin[name])
		}
	}
}

// ---------------------------------------------------------------------------
// The comparison.

// Compose service -> the module's definition of the same service.
func moduleServices(c pipeline.Config) map[string]pipeline.Spec {
	return map[string]pipeline.Spec{
		"postgres":              pipeline.Postgres(c),
		"valkey":                pipeline.Valkey(c),
		"airflow-init":          pipeline.Init(c),
		"airflow-apiserver":     pipeline.APIServer(c),
		"airflow-scheduler":     pipeline.Scheduler(c),
		"airflow-dag-processor": pipeline.DagProcessor(c),
		"airflow-triggerer":     pipeline.Triggerer(c),
		"airflow-worker":        pipeline.Worker(c, 1),
		"flower":                pipeline.Flower(c),
		"airflow-cli":           pipeline.CLI(c, []string{"version"}),
		"dbt":                   pipeline.Dbt(c, []string{"debug"}),
		"dbt-prepare":           pipeline.DbtPrepare(c),
	}
}

// composeName is the compose service of a module hostname or job.
func composeName(module string) string {
	switch {
	case module == pipeline.HostFlower:
		return "flower"
	case strings.HasPrefix(module, "airflow-worker-"):
		return "airflow-worker"
	}
	return module
}

// The spec's profiles: flower, the ad-hoc CLI and dbt start only when asked.
var wantProfiles = map[string]string{"flower": "flower", "airflow-cli": "debug", "dbt": "dbt"}

// Generated-or-given keys: the Airflow setting, and the .env variable
// compose passes on for its *_CMD.
var keySettings = []struct{ setting, dotenv string }{
	{"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"},
	{"AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"},
}

func checkEquivalence(t *testing.T, root, envFile string) pipeline.Config {
	t.Helper()
	content, err := os.ReadFile(envFile)
	if err != nil {
		fatal(t, err)
	}
	c, err := pipeline.LoadConfig(context.Background(), pipeline.Input{Dotenv: string(content)})
	if err != nil {
		fatalf(t, "the module refuses %s:\n%v", envFile, err)
	}
	if _, err := pipeline.StackPlan(c, pipeline.Options{Workers: 1, Flower: true}, pipeline.HostGateway); err != nil {
		fatalf(t, "the module cannot build a stack with Flower from %s: %v", envFile, err)
	}
	cf := composeConfig(t, root, envFile)
	secrets := pipeline.Secrets(c)
	mods := moduleServices(c)

	if got, want := sortedKeys(cf.Services), sortedKeys(mods); !slices.Equal(got, want) {
		errorf(t, "compose has the services %v; the module's counterparts are %v", got, want)
	}
	if cf.Name != "" && cf.Name != c.ProjectName { // only compose v2 prints the project name
		errorf(t, "compose names the project %q, the module %q (COMPOSE_PROJECT_NAME)", cf.Name, c.ProjectName)
	}
	checkHostPorts(t, c, cf)
	checkVolumeSharing(t, cf, mods)

	// Every Airflow setting compose gives must be one the module gives some
	// Airflow service: compose may not configure Airflow differently.
	moduleAirflowNames := map[string]bool{}
	for _, s := range mods {
		if s.Image != c.AirflowImage {
			continue
		}
		for k := range s.Env {
			moduleAirflowNames[k] = true
		}
		for k := range s.SecretEnv {
			moduleAirflowNames[k] = true
		}
		for k := range moduleKeyVolumes(t, s) {
			moduleAirflowNames[k] = true
		}
	}

	for _, name := range sortedKeys(mods) {
		m, cs := mods[name], cf.Services[name]
		if cs == nil {
			continue // reported above
		}
		t.Run(name, func(t *testing.T) {
			switch {
			case m.Image == c.AirflowImage:
				// The project's image: its Dockerfile built from AIRFLOW_IMAGE_NAME.
				if cs.BuildFrom != m.Image || filepath.Clean(cs.BuildContext) != filepath.Clean(root) {
					errorf(t, "image: compose builds %q from %q, the module the project's Dockerfile from %q", cs.BuildContext, cs.BuildFrom, m.Image)
				}
			case cs.Image != m.Image:
				errorf(t, "image: compose runs %q, the module %q", cs.Image, m.Image)
			}
			if got := strings.Join(cs.Profiles, ","); got != wantProfiles[name] {
				errorf(t, "profiles: compose has %q, the spec says %q", got, wantProfiles[name])
			}
			restart := cs.Restart
			if restart == "no" {
				restart = ""
			}
			if want := map[bool]string{true: "always", false: ""}[m.Restart]; restart != want {
				errorf(t, "restart: compose has %q, but the module's supervisor restart=%v", cs.Restart, m.Restart)
			}
			if m.Restart && len(cs.Healthcheck.Test) == 0 {
				fail(t, "a long-running service without a compose health check")
			}
			checkDependsOn(t, cs, m)
			checkEnv(t, cs, m, secrets)
			checkCommand(t, c, name, cs, m, secrets)
			checkMounts(t, root, c, name, cs, m)
			if m.Image == c.AirflowImage {
				for k := range cs.Environment {
					if strings.HasPrefix(k, "AIRFLOW__") && !moduleAirflowNames[strings.TrimSuffix(k, "_CMD")] {
						errorf(t, "compose sets the Airflow setting %s, which the module never sets", k)
					}
				}
			}
		})
	}
	return c
}

// moduleOnlyEnv are the variables of the module's own machinery, which
// compose has no counterpart of: the data lock (see checkMounts), the
// parse stamps the live command reads (compose has no live command: its
// bind mounts are the edit loop), and the name a worker records its tasks
// under (each compose container has a hostname of its own; every Dagger
// container's is "localhost").
var moduleOnlyEnv = map[string]bool{pipeline.RunDirEnv: true, "DATAPLATFORM_PARSE_STAMPS": true, "PYTHONPATH": true,
	"DATAPLATFORM_WORKER_HOSTNAME": true, "AIRFLOW__CORE__HOSTNAME_CALLABLE": true,
	// dbt-prepare runs as AIRFLOW_UID (the live folder's owner), which has
	// no home in the dbt image; compose's runs as root.
	"HOME": true}

// checkEnv: every variable the module gives a service, plain or as a secret,
// compose gives it too with the same value; generated keys are read the way
// the module reads them.
func checkEnv(t *testing.T, cs *service, m pipeline.Spec, secrets map[string]string) {
	t.Helper()
	want := map[string]string{}
	for k, v := range m.Env {
		if !moduleOnlyEnv[k] {
			want[k] = v
		}
	}
	for k, secret := range m.SecretEnv {
		v, ok := secrets[secret]
		if !ok {
			errorf(t, "the module's secret %s (for %s) has no value", secret, k)
		}
		want[k] = v
	}
	for _, key := range keySettings {
		given, isGiven := want[key.setting]
		delete(want, key.setting)
		delete(want, key.setting+"_CMD") // how each reads it is compared below, by running compose's
		volume, isGenerated := moduleKeyVolumes(t, m)[key.setting]
		if !isGiven && !isGenerated {
			continue // this service has no use for the key in the module
		}
		if _, set := cs.Environment[key.setting]; set {
			errorf(t, "compose sets %s itself: even empty it would hide %s_CMD from Airflow", key.setting, key.setting)
		}
		cmd, ok := cs.Environment[key.setting+"_CMD"]
		if !ok {
			errorf(t, "compose has no %s_CMD to read the key", key.setting)
			continue
		}
		passed := cs.Environment[key.dotenv]
		switch {
		case isGiven && isGenerated:
			errorf(t, "the module both takes %s from .env and generates it", key.dotenv)
		case isGiven:
			if passed != given {
				errorf(t, "%s: compose passes %q, the module's secret is %q", key.dotenv, passed, given)
			}
			if got := runKeyCommand(t, cmd, passed, "", ""); got != given {
				errorf(t, "%s_CMD prints %q with %s set, want .env's value %q", key.setting, got, key.dotenv, given)
			}
		case isGenerated:
			if passed != "" {
				errorf(t, "%s: compose passes %q where the module generates the key", key.dotenv, passed)
			}
			if !cs.mountedVolumeAt(volume) {
				errorf(t, "the generated %s is read from %s, where compose mounts no volume", key.setting, volume)
			}
			if got := runKeyCommand(t, cmd, "", volume, "generated-key-value"); got != "generated-key-value" {
				errorf(t, "%s_CMD prints %q with %s empty, want the content of %s/key", key.setting, got, key.dotenv, volume)
			}
		}
	}
	for _, k := range sortedKeys(want) {
		got, ok := cs.Environment[k]
		switch {
		case !ok:
			errorf(t, "%s: the module sets it, compose does not", k)
		case strings.Contains(want[k], "://"):
			if diff := urlDiff(got, want[k]); diff != "" {
				errorf(t, "%s: %s", k, diff)
			}
		case got != want[k]:
			errorf(t, "%s: compose %q, module %q", k, got, want[k])
		}
	}
}

// moduleKeyVolumes: Airflow setting -> key volume path, for the keys a module
// service reads from a generated key file when it starts.
func moduleKeyVolumes(t *testing.T, m pipeline.Spec) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, cmd := range m.Env {
		if setting, ok := strings.CutSuffix(name, "_CMD"); ok { // "cat VOLUME/key"
			out[setting] = strings.TrimSuffix(strings.TrimPrefix(cmd, "cat "), "/key")
		}
	}
	return out
}

// runKeyCommand runs a *_CMD value as Airflow does (split like a shell
// command line, no environment but the .env variable), with the key volume
// replaced by a folder holding content. It returns what Airflow would read.
func runKeyCommand(t *testing.T, cmd, dotenvValue, volume, content string) string {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, key := range keySettings {
		if strings.Contains(cmd, "$"+key.dotenv) {
			env = append(env, key.dotenv+"="+dotenvValue)
		}
	}
	if volume != "" {
		if !strings.Contains(cmd, volume+"/key") {
			errorf(t, "the command %q does not read %s/key", cmd, volume)
			return ""
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "key"), []byte(content), 0o600); err != nil {
			fatal(t, err)
		}
		cmd = strings.ReplaceAll(cmd, volume, dir)
	}
	// Airflow splits the value like a shell and runs it without a shell; for
	// `sh -c '...'` a shell's reading is the same.
	run := exec.Command("sh", "-c", cmd)
	run.Env = env
	out, err := run.Output()
	if err != nil {
		errorf(t, "the command %q fails: %v", cmd, err)
	}
	return string(out)
}

// checkCommand compares what each container runs.
func checkCommand(t *testing.T, c pipeline.Config, name string, cs *service, m pipeline.Spec, secrets map[string]string) {
	t.Helper()
	args := slices.Clone(m.Args)
	switch {
	case name == "postgres":
		if len(cs.Command) > 0 || !slices.Equal(cs.Entrypoint, args) {
			errorf(t, "postgres runs %q %q in compose, %q in the module", cs.Entrypoint, cs.Command, args)
		}
		if got := argAfter(cs.Healthcheck.Test, "-U"); got != c.PostgresUser {
			errorf(t, "the health check connects as %q, not POSTGRES_USER %q", got, c.PostgresUser)
		}
		return
	case name == "valkey":
		checkValkey(t, c, cs, args, secrets)
		return
	case name == "dbt" || name == pipeline.JobDbtPrepare:
		entry := strings.Join(cs.Entrypoint, " ")
		if !strings.Contains(entry, `exec dbt "$@"`) || !strings.Contains(entry, "dbt deps") {
			errorf(t, "the dbt entrypoint does not install the packages and then run dbt: %q", entry)
		}
		if got := append([]string{"dbt"}, cs.Command...); !slices.Equal(got, args) {
			errorf(t, "dbt runs %q in compose, %q in the module", got, args)
		}
		return
	}
	// Airflow: _PIP_ADDITIONAL_REQUIREMENTS is a layer of the module's
	// image (pipeline.ImageSteps), installed once; compose installs it at
	// every start, as the official image does: its command has the step,
	// which reads the variable.
	if steps := pipeline.ImageSteps(c, pipeline.ImageFiles{Dockerfile: true}); c.PipAdditionalReqs != "" &&
		(len(steps) != 1 || steps[0].Args[len(steps[0].Args)-1] != c.PipAdditionalReqs) {
		errorf(t, "the module's image has no layer for _PIP_ADDITIONAL_REQUIREMENTS %q: %+v", c.PipAdditionalReqs, steps)
	}
	if got := cs.Environment["_PIP_ADDITIONAL_REQUIREMENTS"]; got != c.PipAdditionalReqs {
		errorf(t, "_PIP_ADDITIONAL_REQUIREMENTS: compose %q, module %q", got, c.PipAdditionalReqs)
	}
	cmd, wrapper := cs.Command, cs.Entrypoint
	if name == "airflow-init" {
		// Init's entrypoint is the root step; the pip step starts its command.
		if len(cmd) < 5 || cmd[0] != "bash" || cmd[1] != "-c" {
			errorf(t, "airflow-init's command has no pip step: %q", cmd)
			return
		}
		wrapper, cmd = cmd[:4], cmd[4:]
		root := strings.Join(cs.Entrypoint, " ")
		uid, _, _ := strings.Cut(m.User, ":")
		if cs.User != "0:0" || !strings.Contains(root, "setpriv --reuid="+uid+" --regid=0 ") {
			errorf(t, "airflow-init should start as root and drop to %s: user %q, entrypoint %q", m.User, cs.User, root)
		}
	} else if cs.User != m.User {
		errorf(t, "user: compose %q, module %q", cs.User, m.User)
	}
	if !strings.Contains(strings.Join(wrapper, " "), "pip install --quiet --no-cache-dir ${_PIP_ADDITIONAL_REQUIREMENTS}") {
		errorf(t, "no pip step reading _PIP_ADDITIONAL_REQUIREMENTS before the command: %q", wrapper)
	}
	if name == "airflow-worker" {
		// The module names each worker (airflow-worker-N@host) for Flower;
		// compose keeps Celery's default, unique per replica.
		if i := slices.Index(args, "--celery-hostname"); i >= 0 && i+1 < len(args) {
			args = slices.Delete(args, i, i+2)
		}
	}
	if !slices.Equal(cmd, args) {
		errorf(t, "runs %q in compose, %q in the module", cmd, args)
	}
}

// checkValkey: same server options; the password compose puts on the
// command line is the one of the module's secret config file.
func checkValkey(t *testing.T, c pipeline.Config, cs *service, args []string, secrets map[string]string) {
	t.Helper()
	cmd := slices.Clone(cs.Command)
	password := argAfter(cmd, "--requirepass")
	if i := slices.Index(cmd, "--requirepass"); i >= 0 && i+1 < len(cmd) {
		cmd = slices.Delete(cmd, i, i+2)
	}
	conf := secrets[pipeline.SecretValkeyConf]
	confPassword, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(conf, "requirepass ")))
	if err != nil {
		errorf(t, "cannot read the module's valkey.conf %q: %v", conf, err)
	}
	if password != confPassword || password != secrets[pipeline.SecretValkeyPassword] || password != c.ValkeyPassword {
		errorf(t, "Valkey password: compose --requirepass %q, module config file %q, VALKEY_PASSWORD %q", password, confPassword, c.ValkeyPassword)
	}
	// The module's first argument is its secret config file.
	if len(args) > 1 && strings.HasSuffix(args[1], ".conf") {
		args = slices.Delete(args, 1, 2)
	}
	if !slices.Equal(cmd, args) {
		errorf(t, "Valkey options: compose %q, module %q", cmd, args)
	}
	if got := argAfter(cmd, "--maxmemory"); got != c.ValkeyMaxmemory {
		errorf(t, "maxmemory %q, VALKEY_MAXMEMORY is %q", got, c.ValkeyMaxmemory)
	}
	if got := argAfter(cmd, "--maxmemory-policy"); got != "noeviction" {
		errorf(t, "eviction policy %q, the spec fixes noeviction", got)
	}
}

// checkDependsOn: compose waits for what the module's service needs: a job
// (init) to finish successfully, a service to be healthy.
func checkDependsOn(t *testing.T, cs *service, m pipeline.Spec) {
	t.Helper()
	want := map[string]string{}
	for _, need := range m.Needs {
		cond := "service_healthy"
		if need == pipeline.JobInit || need == pipeline.JobDbtPrepare {
			cond = "service_completed_successfully"
		}
		want[composeName(need)] = cond
	}
	for _, k := range sortedKeys(want) {
		if got, ok := cs.DependsOn[k]; !ok {
			errorf(t, "depends_on: the module waits for %s, compose does not", k)
		} else if got.Condition != want[k] {
			errorf(t, "depends_on %s: condition %q, want %q", k, got.Condition, want[k])
		}
	}
	// A service the module only reaches by name (the worker's api-server),
	// compose waits for, as the official Airflow compose file does.
	for _, r := range m.Reaches {
		want[composeName(r)] = "service_healthy"
	}
	for _, k := range sortedKeys(cs.DependsOn) {
		if _, ok := want[k]; !ok {
			errorf(t, "depends_on: compose waits for %s, the module neither waits for it nor reaches it", k)
		} else if cs.DependsOn[k].Condition != want[k] {
			errorf(t, "depends_on %s: condition %q, want %q", k, cs.DependsOn[k].Condition, want[k])
		}
	}
}

// checkHostPorts: compose publishes exactly what the module's gateway
// forwards to the host, to the same service and port.
func checkHostPorts(t *testing.T, c pipeline.Config, cf *file) {
	t.Helper()
	gw := pipeline.Gateway(c, pipeline.Options{Flower: true})
	re := regexp.MustCompile(`^(\d+):([a-z0-9-]+):(\d+)$`)
	want := map[string]string{} // "service host->container"
	for _, arg := range gw.Args {
		// The receiver of live edits: compose bind-mounts the folders instead.
		if m := re.FindStringSubmatch(arg); m != nil && m[2] != pipeline.HostLive {
			want[fmt.Sprintf("%s %s->%s", composeName(m[2]), m[1], m[3])] = m[0]
		}
	}
	if len(want) != 3 || len(want)+1 != len(gw.Ports) {
		errorf(t, "read %d forwards from the module's gateway %q, which has the ports %v", len(want), gw.Args, gw.Ports)
	}
	got := map[string]string{}
	for name, s := range cf.Services {
		for _, p := range s.Ports {
			got[fmt.Sprintf("%s %d->%d", name, p.published, p.target)] = ""
		}
	}
	if g, w := sortedKeys(got), sortedKeys(want); !slices.Equal(g, w) {
		errorf(t, "host ports: compose publishes %v, the module %v", g, w)
	}
	if len(cf.Services["valkey"].Ports) != 0 {
		fail(t, "Valkey must not be reachable from the host")
	}
}

// checkMounts: every volume and project file of a module service is at the
// same place in the compose service. Named volumes stay named volumes; the
// module's live copies of dags/ and plugins/ and its logs volume are the
// project's folders in compose (the spec's bind mounts).
func checkMounts(t *testing.T, root string, c pipeline.Config, name string, cs *service, m pipeline.Spec) {
	t.Helper()
	projectFolder := map[string]string{pipeline.AirflowHome + "/logs": path.Join(c.ProjDir(), "logs")} // container path -> project folder
	for _, f := range pipeline.LiveFolders {
		projectFolder[c.LiveMount(f)] = c.LiveFolder(f)
	}
	for _, v := range m.Volumes {
		mt := cs.mountAt(v.Path)
		switch {
		case v.Path == pipeline.RunDir:
			continue // the module's data lock; compose's containers are named, one per service
		case v.Path == pipeline.ParseStamps || path.Base(v.Path) == pipeline.SecretLiveKey:
			continue // the module's live command's verdict and key, see moduleOnlyEnv
		case mt == nil:
			errorf(t, "the module mounts volume %s at %s, compose nothing", v.Key, v.Path)
		case projectFolder[v.Path] != "":
			if want := filepath.Join(root, projectFolder[v.Path]); mt.kind != "bind" || mt.source != want {
				errorf(t, "%s: compose mounts %s %q, the spec's folder is %s", v.Path, mt.kind, mt.source, want)
			}
		case mt.kind != "volume":
			errorf(t, "%s: the module keeps it in a volume, compose mounts %s %q", v.Path, mt.kind, mt.source)
		}
	}
	// The module mounts all of its scripts; compose, the script the service runs
	// (its wrappers' steps compose does its own way, checked in checkCommand).
	for _, arg := range m.Args {
		if name, ok := strings.CutPrefix(arg, pipeline.ScriptsDir+"/"); ok {
			if mt := cs.mountAt(arg); mt == nil || mt.kind != "bind" || mt.source != filepath.Join(root, pipeline.ModuleScripts, name) {
				errorf(t, "the module runs %s; compose mounts %+v there, not the module's %s/%s", arg, mt, pipeline.ModuleScripts, name)
			}
		}
	}
	for _, mnt := range m.Mounts {
		target := mnt.Path
		if mnt.Path == pipeline.ScriptsDir {
			continue // checked above
		}
		for _, f := range pipeline.LiveFolders {
			if mnt.Source == c.LiveFolder(f) && mnt.Path != c.LiveMount(f) {
				target = c.LiveMount(f) // the module copies what compose binds
			}
		}
		mt := cs.mountAt(target)
		want := filepath.Join(root, mnt.Source)
		if mt == nil || mt.kind != "bind" || mt.source != want {
			errorf(t, "the module puts the project's %s at %s; compose mounts %+v there", mnt.Source, target, mt)
		}
	}
}

// checkVolumeSharing: one module volume is one compose volume, in every
// service that mounts it (e.g. the keys init makes are those the others read).
func checkVolumeSharing(t *testing.T, cf *file, mods map[string]pipeline.Spec) {
	t.Helper()
	toCompose, toModule := map[string]string{}, map[string]string{}
	for _, name := range sortedKeys(mods) {
		cs := cf.Services[name]
		if cs == nil {
			continue
		}
		for _, v := range mods[name].Volumes {
			mt := cs.mountAt(v.Path)
			if mt == nil || mt.kind != "volume" {
				continue // reported by checkMounts
			}
			if prev, ok := toCompose[v.Key]; ok && prev != mt.source {
				errorf(t, "the module's volume %s is compose's %s in one service and %s in another", v.Key, prev, mt.source)
			}
			if prev, ok := toModule[mt.source]; ok && prev != v.Key {
				errorf(t, "compose's volume %s holds both the module's %s and %s", mt.source, prev, v.Key)
			}
			toCompose[v.Key], toModule[mt.source] = mt.source, v.Key
		}
	}
}

// urlDiff compares two connection URLs by their decoded parts, a missing
// port being the scheme's default; "" when they mean the same.
func urlDiff(composeURL, moduleURL string) string {
	cu, err1 := url.Parse(composeURL)
	mu, err2 := url.Parse(moduleURL)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("cannot read the URLs (compose %q: %v; module %q: %v)", composeURL, err1, moduleURL, err2)
	}
	parts := func(u *url.URL) []string {
		pw, _ := u.User.Password()
		port := u.Port()
		if port == "" {
			port = map[bool]string{true: "6379", false: "5432"}[strings.HasPrefix(u.Scheme, "redis")]
		}
		return []string{u.Scheme, u.User.Username(), pw, u.Hostname(), port, u.Path, u.RawQuery}
	}
	names := []string{"scheme", "user", "password", "host", "port", "path", "query"}
	var diffs []string
	for i, c := range parts(cu) {
		if m := parts(mu)[i]; c != m {
			diffs = append(diffs, fmt.Sprintf("%s %q in compose, %q in the module", names[i], c, m))
		}
	}
	return strings.Join(diffs, "; ")
}

func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------------
// docker compose and its output.

// composeCLI is docker-compose (v1, or v2's standalone binary), else the
// docker compose plugin (the users' usual case).
func composeCLI(t *testing.T) []string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.Command(p, "compose", "version").Run() == nil {
			return []string{p, "compose"}
		}
	}
	fatal(t, "this check needs docker compose: neither docker-compose nor the docker compose plugin is installed "+
		"(`config` reads the files only, no Docker daemon is needed)")
	return nil
}

// composeConfig is `compose config` of the stack with every profile on, for
// one .env, run in an environment without the caller's variables (compose
// would let them override the file's).
func composeConfig(t *testing.T, root, envFile string) *file {
	t.Helper()
	cli := composeCLI(t)
	args := append(cli[1:], "--project-directory", root, "-f", filepath.Join(root, "bench", "compose", "docker-compose.yml"),
		"--env-file", envFile, "--profile", "debug", "--profile", "flower", "--profile", "dbt", "config")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli[0], args...)
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if v, ok := os.LookupEnv("DOCKER_CONFIG"); ok {
		cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+v) // where the compose plugin may live
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		fatalf(t, "%s %s failed: %v\n%s", cli[0], strings.Join(args, " "), err, stderr.String())
	}
	var raw rawFile
	if err := yaml.Unmarshal(out, &raw); err != nil {
		fatalf(t, "cannot read the output of compose config: %v\n%s", err, out)
	}
	return raw.normalise(t)
}

// What compose config prints. v1 and v2 differ in details (ports and
// volumes in short or long form, published ports as numbers or strings).
type rawFile struct {
	Name     string                 `yaml:"name"`
	Services map[string]*rawService `yaml:"services"`
}

type rawService struct {
	Image string `yaml:"image"`
	Build struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	User        string               `yaml:"user"`
	Entrypoint  []string             `yaml:"entrypoint"`
	Command     []string             `yaml:"command"`
	Environment map[string]*string   `yaml:"environment"`
	Ports       []yaml.Node          `yaml:"ports"`
	Volumes     []yaml.Node          `yaml:"volumes"`
	DependsOn   map[string]dependsOn `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Profiles []string `yaml:"profiles"`
	Restart  string   `yaml:"restart"`
}

type dependsOn struct {
	Condition string `yaml:"condition"`
}

type file struct {
	Name     string
	Services map[string]*service
}

type service struct {
	Image string
	// BuildFrom is the AIRFLOW_IMAGE_NAME build argument when compose
	// builds the image from the project's Dockerfile (BuildContext).
	BuildFrom, BuildContext string
	User                    string
	Entrypoint              []string
	Command                 []string
	Environment             map[string]string
	Ports                   []port
	Mounts                  []mount
	DependsOn               map[string]dependsOn
	Healthcheck             struct{ Test []string }
	Profiles                []string
	Restart                 string
}

type port struct{ published, target int }

type mount struct {
	kind   string // "bind" or "volume"
	source string // absolute host path, or the volume's name in the file
	target string
}

func (s *service) mountAt(target string) *mount {
	for i := range s.Mounts {
		if s.Mounts[i].target == target {
			return &s.Mounts[i]
		}
	}
	return nil
}

func (s *service) mountedVolumeAt(target string) bool {
	m := s.mountAt(target)
	return m != nil && m.kind == "volume"
}

// unescape undoes config's escaping of '$' as '$$' (the test's values never
// hold "$$" themselves).
func unescape(s string) string { return strings.ReplaceAll(s, "$$", "$") }

func unescapeAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = unescape(s)
	}
	return out
}

func (r rawFile) normalise(t *testing.T) *file {
	t.Helper()
	f := &file{Name: r.Name, Services: map[string]*service{}}
	for name, rs := range r.Services {
		s := &service{Image: rs.Image, User: rs.User, Entrypoint: unescapeAll(rs.Entrypoint), Command: unescapeAll(rs.Command),
			Environment: map[string]string{}, DependsOn: rs.DependsOn, Profiles: rs.Profiles, Restart: rs.Restart,
			BuildFrom: unescape(rs.Build.Args["AIRFLOW_IMAGE_NAME"]), BuildContext: rs.Build.Context}
		s.Healthcheck.Test = unescapeAll(rs.Healthcheck.Test)
		for k, v := range rs.Environment {
			if v != nil {
				s.Environment[k] = unescape(*v)
			}
		}
		for _, n := range rs.Ports {
			p, err := readPort(n)
			if err != nil {
				fatalf(t, "%s: %v", name, err)
			}
			s.Ports = append(s.Ports, p)
		}
		for _, n := range rs.Volumes {
			m, err := readMount(n)
			if err != nil {
				fatalf(t, "%s: %v", name, err)
			}
			s.Mounts = append(s.Mounts, m)
		}
		f.Services[name] = s
	}
	return f
}

// readPort reads "published:target" or the long form.
func readPort(n yaml.Node) (port, error) {
	if n.Kind == yaml.ScalarNode {
		host, ctr, ok := strings.Cut(strings.TrimSuffix(n.Value, "/tcp"), ":")
		if !ok {
			return port{}, fmt.Errorf("port %q is not published on the host", n.Value)
		}
		if i := strings.LastIndex(host, ":"); i >= 0 { // ip:published
			host = host[i+1:]
		}
		p, err1 := strconv.Atoi(host)
		c, err2 := strconv.Atoi(ctr)
		if err1 != nil || err2 != nil {
			return port{}, fmt.Errorf("cannot read port %q", n.Value)
		}
		return port{p, c}, nil
	}
	var long struct {
		Target    int    `yaml:"target"`
		Published string `yaml:"published"`
	}
	if err := n.Decode(&long); err != nil {
		return port{}, fmt.Errorf("cannot read a port: %v", err)
	}
	p, err := strconv.Atoi(long.Published)
	if err != nil {
		return port{}, fmt.Errorf("published port %q is not a number", long.Published)
	}
	return port{p, long.Target}, nil
}

// readMount reads "source:target[:mode]" or the long form.
func readMount(n yaml.Node) (mount, error) {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		if len(parts) < 2 {
			return mount{}, fmt.Errorf("cannot read volume %q", n.Value)
		}
		kind := "volume"
		if strings.HasPrefix(parts[0], "/") || strings.HasPrefix(parts[0], ".") {
			kind = "bind"
		}
		if kind == "bind" {
			parts[0] = filepath.Clean(parts[0])
		}
		return mount{kind: kind, source: parts[0], target: parts[1]}, nil
	}
	var long struct {
		Type   string `yaml:"type"`
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	}
	if err := n.Decode(&long); err != nil {
		return mount{}, fmt.Errorf("cannot read a volume: %v", err)
	}
	if long.Type == "bind" {
		long.Source = filepath.Clean(long.Source)
	}
	return mount{kind: long.Type, source: long.Source, target: long.Target}, nil
}
