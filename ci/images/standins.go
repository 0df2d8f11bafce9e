package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"dagger.io/dagger"
)

type standinOpts struct {
	Bookworm, Trixie, Wheels, GoRoot, Registry, Only, CACerts string
}

// standin is one image published under an official name, plus the command
// whose output tells which real versions it carries.
type standin struct {
	ref     string // the official reference, e.g. "postgres:16"
	build   func(*dagger.Client, standinOpts) *dagger.Container
	version []string
}

var standins = []standin{
	{"postgres:16", postgresImage, []string{"postgres", "--version"}},
	{"valkey/valkey:9.0.2", valkeyImage, []string{"valkey-server", "--version"}},
	{"apache/airflow:3.1.7", airflowImage("airflow"), []string{"sh", "-c",
		"airflow version 2>/dev/null | tail -1 | sed 's/^/airflow /'; pip list 2>/dev/null | grep -E '^apache-airflow-providers-(celery|postgres|fab|standard) '"}},
	// The newest release, for the upgrade test (`upgrade-test --image`).
	{"apache/airflow:3.3.2", airflowImage("airflow-3.3.2"), []string{"sh", "-c",
		"airflow version 2>/dev/null | tail -1 | sed 's/^/airflow /'; pip list 2>/dev/null | grep -E '^apache-airflow-providers-(celery|postgres|fab|standard) '"}},
	{"ghcr.io/dbt-labs/dbt-postgres:1.9.0", dbtImage, []string{"sh", "-c", "dbt --version | grep -E 'installed|postgres'"}},
	{"golang:1.25.5-alpine", goImage, []string{"go", "version"}},
}

func buildStandins(ctx context.Context, c *dagger.Client, o standinOpts) error {
	for _, s := range standins {
		if o.Only != "" && !containsWord(o.Only, s.ref) {
			continue
		}
		ctr := s.build(c, o)
		out, err := ctr.WithExec(s.version).Stdout(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
		// gzip: Docker 20.10 (ci/docker-bootstrap) cannot read zstd layers, and
		// a layer shared with the zstd Go SDK image would otherwise stay zstd.
		addr, err := ctr.Publish(ctx, o.Registry+"/"+mirrorPath(s.ref),
			dagger.ContainerPublishOpts{ForcedCompression: dagger.ImageLayerCompressionGzip})
		if err != nil {
			return fmt.Errorf("publish %s: %w", s.ref, err)
		}
		fmt.Printf("stand-in %-38s %s\n  %s\n", s.ref, addr,
			strings.ReplaceAll(strings.TrimSpace(out), "\n", "\n  "))
	}
	return nil
}

// mirrorPath is where a registry mirror looks up an official reference:
// Docker Hub's library images get "library/", other registries keep their host.
func mirrorPath(ref string) string {
	first, _, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		return "library/" + ref // postgres:16
	case strings.ContainsAny(first, ".:"):
		return ref // ghcr.io/... is mirrored under its own host name
	}
	return ref // valkey/valkey:9.0.2
}

func containsWord(list, word string) bool {
	for _, w := range strings.Split(list, ",") {
		if strings.TrimSpace(w) == word {
			return true
		}
	}
	return false
}

// postgresImage: Debian's newest PostgreSQL (17 on trixie; 16 is not packaged)
// behind an entrypoint that follows the official image's contract.
func postgresImage(c *dagger.Client, o standinOpts) *dagger.Container {
	ctr := debian(c, o.Trixie).
		// No default cluster: the entrypoint runs initdb on PGDATA.
		WithNewFile("/etc/postgresql-common/createcluster.d/no-main.conf", "create_main_cluster = false\n")
	return aptInstall(ctr, "postgresql-17", "util-linux", "gzip").
		WithEnvVariable("PATH", "/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
		WithEnvVariable("PGDATA", "/var/lib/postgresql/data").
		WithExec([]string{"mkdir", "-p", "/docker-entrypoint-initdb.d", "/var/lib/postgresql/data"}).
		WithFile("/usr/local/bin/docker-entrypoint.sh",
			c.Host().File("postgres/docker-entrypoint.sh"), dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithEntrypoint([]string{"docker-entrypoint.sh"}).
		WithDefaultArgs([]string{"postgres"}).
		WithExposedPort(5432)
}

// valkeyImage: Debian's valkey-server and valkey-cli, run from /data.
func valkeyImage(c *dagger.Client, o standinOpts) *dagger.Container {
	return aptInstall(debian(c, o.Trixie), "valkey-server", "valkey-tools").
		WithExec([]string{"mkdir", "-p", "/data"}).
		WithWorkdir("/data").
		WithDefaultArgs([]string{"valkey-server"}).
		WithExposedPort(6379)
}

// airflowImage: Airflow and its providers from PyPI (the wheel set named
// set) in a venv on PATH, laid out like the official image
// (AIRFLOW_HOME=/opt/airflow, user 50000, group 0, AIRFLOW_VERSION, which
// Dockerfiles extending the image use).
func airflowImage(set string) func(*dagger.Client, standinOpts) *dagger.Container {
	return func(c *dagger.Client, o standinOpts) *dagger.Container {
		return airflowStandin(c, o, o.Wheels+"/"+set)
	}
}

func airflowStandin(c *dagger.Client, o standinOpts, wheels string) *dagger.Container {
	ctr := trustCAs(c, aptInstall(debian(c, o.Bookworm),
		"python3", "python3-venv", "curl", "ca-certificates", "dumb-init", "libpq5", "procps", "netbase"), o.CACerts)
	return pythonVenv(c, ctr, wheels, "/home/airflow/.local").
		WithEnvVariable("AIRFLOW_VERSION", pinned(wheels+"/requirements.txt", "apache-airflow")).
		WithExec([]string{"sh", "-c", "useradd --uid 50000 --gid 0 --home-dir /home/airflow --no-create-home airflow" +
			" && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/config /opt/airflow/plugins" +
			" && chown -R 50000:0 /opt/airflow /home/airflow && chmod -R g+rwX /opt/airflow /home/airflow"}).
		WithEnvVariable("AIRFLOW_HOME", "/opt/airflow").
		WithEnvVariable("HOME", "/home/airflow").
		WithWorkdir("/opt/airflow").
		WithUser("50000:0").
		WithEntrypoint([]string{"/usr/bin/dumb-init", "--"}).
		WithDefaultArgs([]string{"airflow", "--help"}).
		WithExposedPort(8080)
}

// dbtImage: dbt-core and dbt-postgres from PyPI; like the official image, the
// entrypoint is dbt and the project lives in /usr/app/dbt.
func dbtImage(c *dagger.Client, o standinOpts) *dagger.Container {
	// util-linux (flock) and mawk, as the official image (Debian slim) has them: the
	// stack's warm dbt runs under the module's data lock and output keeper.
	ctr := trustCAs(c, aptInstall(debian(c, o.Bookworm), "python3", "python3-venv", "ca-certificates", "libpq5", "git", "util-linux", "mawk"), o.CACerts)
	return pythonVenv(c, ctr, o.Wheels+"/dbt", "/usr/local/dbt").
		WithExec([]string{"mkdir", "-p", "/usr/app/dbt"}).
		WithWorkdir("/usr/app/dbt").
		WithEntrypoint([]string{"dbt"})
}

// goImage: the Go toolchain (the host's copy of the one the image's name
// gives) on Debian, laid out as the official golang image is.
func goImage(c *dagger.Client, o standinOpts) *dagger.Container {
	return trustCAs(c, aptInstall(debian(c, o.Bookworm), "ca-certificates", "git"), o.CACerts).
		WithDirectory("/usr/local/go", c.Host().Directory(o.GoRoot)).
		WithEnvVariable("GOPATH", "/go").
		WithEnvVariable("GOTOOLCHAIN", "local").
		WithEnvVariable("PATH", "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
		WithWorkdir("/go")
}

// pinned is the version a frozen requirements file pins name at ("" when
// it does not).
func pinned(file, name string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"=="); ok {
			return v
		}
	}
	return ""
}

// pythonVenv installs a wheel set (a folder holding requirements.txt and the
// wheels it names) into a venv at dir, whose bin/ goes first on PATH. The
// wheels are mounted, not copied, so they do not end up in a layer.
func pythonVenv(c *dagger.Client, ctr *dagger.Container, wheels, dir string) *dagger.Container {
	return ctr.
		WithMountedDirectory("/tmp/wheels", c.Host().Directory(wheels)).
		WithExec([]string{"sh", "-c", "python3 -m venv " + dir +
			" && " + dir + "/bin/pip install -q --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt" +
			" && rm -rf /root/.cache"}).
		WithoutMount("/tmp/wheels").
		WithEnvVariable("PATH", dir+"/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}
