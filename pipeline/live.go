package pipeline

import (
	"fmt"
	"strings"
)

// HostLive is the service that receives the project's edits into the live
// folders (live-receiver.py), for the live command (cmd/live): a saved
// file reaches the running stack through the host port LIVE_PORT with no
// command typed, as a bind mount does for compose.
const HostLive = "live"

// PortLive is the receiver's port in its container.
const PortLive = 8090

// liveReceiverScript is the receiver.
var liveReceiverScript = script("live-receiver.py")

// Live is the receiver: it writes what the live command sends into the
// live volumes, as AIRFLOW_UID, the live folders' owner, and shows the
// dag-processor's parse stamps. It opens only to the project's live key
// (see LiveKey), the only credential it gets: what it writes is code every
// worker runs, so no guessable password (the admin's default) may open it.
func Live(c Config) Spec {
	args := []string{"python3", liveReceiverScript, itoa(PortLive), ParseStamps}
	for _, f := range LiveFolders {
		arg := f + "=" + c.liveVolume(f).Path
		if gen := LiveGenerated[f]; len(gen) > 0 {
			arg += ":" + strings.Join(gen, ",")
		}
		args = append(args, arg)
	}
	s := Spec{
		Name:  HostLive,
		Kind:  Service,
		Image: c.AirflowImage,
		Args:  args,
		User:  c.AirflowUser(),
		Env: map[string]string{"LIVE_KEY_FILE": c.keyFile(SecretLiveKey), "PYTHONDONTWRITEBYTECODE": "1",
			"DBT_SERVER_URL": fmt.Sprintf("http://%s:%d", HostDbtServer, PortDbtServer)},
		SecretEnv: map[string]string{},
		Ports:     []int{PortLive},
		Volumes:   []Volume{c.keyVolume(SecretLiveKey), c.stampsVolume()},
		Needs:     []string{JobInit}, // init makes the key, and the live folders AIRFLOW_UID's
		Reaches:   []string{HostDbtServer},
	}
	for _, f := range LiveFolders {
		s.Volumes = append(s.Volumes, c.liveVolume(f))
	}
	return supervise(s, "TERM")
}

// LiveKey prints the project's live key, made first if the project has
// none yet (as init makes it): the live command's credential.
func LiveKey(c Config) Spec {
	return Spec{
		Name:    "live-key",
		Kind:    Job,
		Image:   c.PostgresImage, // pulled anyway; any shell does
		Args:    []string{"cat", c.keyFile(SecretLiveKey)},
		AsRoot:  []string{"sh", ownVolumesScript, c.AirflowUser(), "--key", c.keyFile(SecretLiveKey)},
		Env:     map[string]string{},
		Volumes: []Volume{c.keyVolume(SecretLiveKey)},
	}
}
