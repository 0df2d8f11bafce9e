package pipeline

import "path"

// HostLive is the service that receives the project's edits into the live
// folders (init/live-receiver.py), for the watcher (cmd/live): a saved
// file reaches the running stack through the host port LIVE_PORT with no
// command typed, as a bind mount does for compose.
const HostLive = "live"

// PortLive is the receiver's port in its container.
const PortLive = 8090

// liveReceiverScript is the receiver.
var liveReceiverScript = script("live-receiver.py")

// Live is the receiver: it writes what the watcher sends into the live
// volumes, behind the admin's login (the only credential it gets), as
// AIRFLOW_UID, the live folders' owner.
func Live(c Config) Spec {
	args := []string{"python3", liveReceiverScript, itoa(PortLive)}
	for _, f := range LiveFolders {
		args = append(args, f+"="+c.liveVolume(f).Path)
	}
	s := Spec{
		Name:      HostLive,
		Kind:      Service,
		Image:     c.AirflowImage,
		Args:      args,
		User:      c.AirflowUser(),
		Env:       map[string]string{"LIVE_USER": c.AirflowWWWUser, "PYTHONDONTWRITEBYTECODE": "1"},
		SecretEnv: map[string]string{"LIVE_PASSWORD": SecretWWWPassword},
		Ports:     []int{PortLive},
		Needs:     []string{JobInit}, // init makes the live folders AIRFLOW_UID's
	}
	for _, f := range LiveFolders {
		s.Volumes = append(s.Volumes, c.liveVolume(f))
	}
	return supervise(s, "TERM")
}

// LiveFolder is the project's folder (relative to its root) that the live
// folder name mirrors, e.g. "dags" -> AIRFLOW_PROJ_DIR/dags.
func (c Config) LiveFolder(name string) string { return path.Join(c.ProjDir(), name) }
