package pipeline

import "golang.org/x/mod/semver"

// firstEngineReadingHealthchecks is the first Dagger release whose services
// are ready by their image's HEALTHCHECK when it has one, rather than by
// their ports (and whose Container has withoutDockerHealthcheck).
const firstEngineReadingHealthchecks = "v0.20.1"

// EngineReadsImageHealthchecks says, from the engine's version (Dagger's
// `version`), whether its services use an image's HEALTHCHECK for
// readiness. known is false for a version that is not a release's
// (vMAJOR.MINOR.PATCH, e.g. a development build): ask the engine's API.
func EngineReadsImageHealthchecks(version string) (reads, known bool) {
	if !semver.IsValid(version) || semver.Prerelease(version) != "" || semver.Build(version) != "" {
		return false, false
	}
	return semver.Compare(version, firstEngineReadingHealthchecks) >= 0, true
}
