package main

import (
	"context"
	"fmt"

	"dagger.io/dagger"
)

type goSDKOpts struct {
	Rootfs, GoRoot, Codegen, SDKSource, Out, CACerts string
}

// buildGoSDK writes the Go SDK runtime image the engine loads Go modules with:
// Debian with git and ssh, Go at /usr/local/go, codegen, and module and build
// caches warmed with the Dagger Go SDK's dependencies.
func buildGoSDK(ctx context.Context, c *dagger.Client, o goSDKOpts) error {
	if o.Rootfs == "" || o.GoRoot == "" || o.Codegen == "" || o.SDKSource == "" || o.Out == "" {
		return fmt.Errorf("gosdk needs -rootfs, -goroot, -codegen, -sdk and -out")
	}
	base := trustCAs(c, aptInstall(debian(c, o.Rootfs), "git", "ca-certificates", "openssh-client", "openssl"), o.CACerts).
		WithDirectory("/usr/local/go", c.Host().Directory(o.GoRoot)).
		WithEnvVariable("GOPATH", "/go").
		WithEnvVariable("GOTOOLCHAIN", "auto").
		WithEnvVariable("PATH", "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")

	warm := base.
		WithExec([]string{"go", "build", "std"}).
		WithDirectory("/sdk", c.Host().Directory(o.SDKSource)).
		WithExec([]string{"go", "list", "-C", "/sdk", "-e", "-export=true", "-compiled=true",
			"-deps=true", "-test=false", "."})

	// The engine mounts these two folders as cache volumes seeded from the image.
	image := base.
		WithFile("/usr/local/bin/codegen", c.Host().File(o.Codegen)).
		WithDirectory("/go/pkg/mod", warm.Directory("/go/pkg/mod")).
		WithDirectory("/root/.cache/go-build", warm.Directory("/root/.cache/go-build"))

	_, err := image.Export(ctx, o.Out, dagger.ContainerExportOpts{
		ForcedCompression: dagger.ImageLayerCompressionZstd,
	})
	return err
}
