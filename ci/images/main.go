// Command images builds, with the native engine itself, the images that
// machines without a registry lack: the Go SDK runtime the engine needs to
// load Go modules, and stand-ins for every image the data-platform module
// pulls, published to the loopback registry under their official names.
//
// Base filesystems come from debootstrap on the host; packages from Debian
// (apt inside the containers) and from PyPI (wheels downloaded on the host).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"dagger.io/dagger"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: images gosdk|standins [flags]")
		os.Exit(2)
	}
	ctx := context.Background()
	client, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		fail(err)
	}
	defer client.Close()

	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	switch os.Args[1] {
	case "gosdk":
		var o goSDKOpts
		fs.StringVar(&o.Rootfs, "rootfs", "", "Debian rootfs directory")
		fs.StringVar(&o.GoRoot, "goroot", "", "GOROOT of the Go toolchain to ship")
		fs.StringVar(&o.Codegen, "codegen", "", "codegen binary")
		fs.StringVar(&o.SDKSource, "sdk", "", "source of dagger.io/dagger, to warm the caches")
		fs.StringVar(&o.Out, "out", "", "OCI tarball to write")
		fs.StringVar(&o.CACerts, "cacerts", "", caCertsUsage)
		_ = fs.Parse(os.Args[2:])
		err = buildGoSDK(ctx, client, o)
	case "standins":
		var o standinOpts
		fs.StringVar(&o.Bookworm, "bookworm", "", "Debian 12 rootfs directory")
		fs.StringVar(&o.Trixie, "trixie", "", "Debian 13 rootfs directory")
		fs.StringVar(&o.Wheels, "wheels", "", "directory with airflow/ and dbt/ wheel sets")
		fs.StringVar(&o.GoRoot, "goroot", "", "GOROOT of the Go toolchain of the golang stand-in")
		fs.StringVar(&o.Registry, "registry", "127.0.0.1:5000", "registry to publish to")
		fs.StringVar(&o.Only, "only", "", "comma-separated image names to build (default all)")
		fs.StringVar(&o.CACerts, "cacerts", "", caCertsUsage)
		_ = fs.Parse(os.Args[2:])
		err = buildStandins(ctx, client, o)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "images:", err)
	os.Exit(1)
}

// debian starts a container from a debootstrap tree on the host. Such a tree
// carries no image config, so PATH and the locale are set here.
func debian(c *dagger.Client, rootfs string) *dagger.Container {
	return c.Container().
		WithRootfs(c.Host().Directory(rootfs, dagger.HostDirectoryOpts{
			Exclude: []string{"dev/", "proc/", "sys/"},
		})).
		WithEnvVariable("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
		WithEnvVariable("LANG", "C.UTF-8").
		WithEnvVariable("DEBIAN_FRONTEND", "noninteractive")
}

const caCertsUsage = "folder of this machine's own CA certificates (*.crt) the images trust"

// trustCAs makes an image trust the CA certificates (*.crt) of the host
// folder dir, none when dir is "": its system bundle holds them (Go, apt,
// curl), and pip reads that bundle (/etc/pip.conf) rather than its own.
// On machines that reach PyPI and the Go proxy through a proxy of their own,
// the images carry its CA (compose runs them too), and the engine injects
// none (engine/in-namespace.sh).
func trustCAs(c *dagger.Client, ctr *dagger.Container, dir string) *dagger.Container {
	if dir == "" {
		return ctr
	}
	return ctr.
		WithDirectory("/usr/local/share/ca-certificates", c.Host().Directory(dir, dagger.HostDirectoryOpts{Include: []string{"*.crt"}})).
		WithExec([]string{"update-ca-certificates"}).
		WithNewFile("/etc/pip.conf", "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
}

// aptInstall installs packages in one step, so the package lists never land in a layer.
func aptInstall(ctr *dagger.Container, pkgs ...string) *dagger.Container {
	script := "apt-get update -qq && apt-get install -y -qq --no-install-recommends " +
		strings.Join(pkgs, " ") +
		" >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"
	return ctr.WithExec([]string{"sh", "-c", script})
}
