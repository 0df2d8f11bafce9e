package pipeline

import "testing"

func TestEngineReadsImageHealthchecksFromItsRelease(t *testing.T) {
	for _, c := range []struct {
		version      string
		reads, known bool
	}{
		{"v0.19.10", false, true},
		{"v0.20.0", false, true},
		{"v0.20.1", true, true},
		{"v0.21.8", true, true},
		{"v1.0.0", true, true},
		{"v0.20.1-dev-123abc", false, false},
		{"v0.21.8+build", false, false},
		{"devel", false, false},
		{"", false, false},
	} {
		reads, known := EngineReadsImageHealthchecks(c.version)
		if reads != c.reads || known != c.known {
			t.Errorf("%q: reads %v known %v, want %v %v", c.version, reads, known, c.reads, c.known)
		}
	}
}
