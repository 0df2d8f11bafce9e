package pipeline

import (
	"fmt"
	"strings"
)

// GoImage builds the live command (the module's cmd/live) for a user's
// machine; its Go is go.mod's (a unit test holds them together).
const GoImage = "golang:1.25.5-alpine"

// LiveClientTarget is what the live command is built for: Go's GOOS and
// GOARCH for a Dagger platform ("os/arch" or "os/arch/variant", as
// `--platform=current` gives it), and the file's name there.
func LiveClientTarget(platform string) (goos, goarch, file string, err error) {
	parts := strings.Split(platform, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", "", "", fmt.Errorf("platform: %q is not OS/ARCH (e.g. linux/amd64, darwin/arm64; current is this machine's)", platform)
	}
	goos, goarch = parts[0], parts[1]
	switch goos {
	case "linux", "darwin", "windows", "freebsd":
	default:
		return "", "", "", fmt.Errorf("platform: the live command is not built for the OS %q (linux, darwin, windows, freebsd)", goos)
	}
	switch goarch {
	case "amd64", "arm64", "arm", "386", "riscv64", "ppc64le", "s390x":
	default:
		return "", "", "", fmt.Errorf("platform: the live command is not built for the architecture %q", goarch)
	}
	file = "live"
	if goos == "windows" {
		file += ".exe"
	}
	return goos, goarch, file, nil
}
