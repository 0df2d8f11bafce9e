package pipeline

import (
	"os"
	"strings"
	"testing"
)

func TestLiveClientTarget(t *testing.T) {
	for platform, want := range map[string]string{
		"linux/amd64":     "linux amd64 live",
		"darwin/arm64":    "darwin arm64 live",
		"linux/arm64/v8":  "linux arm64 live",
		"windows/amd64":   "windows amd64 live.exe",
		"plan9/amd64":     "platform: the live command is not built for the OS \"plan9\"",
		"linux/mips":      "platform: the live command is not built for the architecture \"mips\"",
		"linux":           "platform: \"linux\" is not OS/ARCH",
		"linux/amd64/v3/": "platform: \"linux/amd64/v3/\" is not OS/ARCH",
	} {
		goos, goarch, file, err := LiveClientTarget(platform)
		got := goos + " " + goarch + " " + file
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", platform, got, want)
		}
	}
}

// The live command is built with the Go of go.mod.
func TestGoImageIsGoModsGo(t *testing.T) {
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok && !strings.HasPrefix(GoImage, "golang:"+v+"-") {
			t.Errorf("go.mod says go %s, the live command is built with %s", v, GoImage)
		}
	}
}
