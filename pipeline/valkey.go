package pipeline

// HostValkey is Valkey's hostname (the spec's compose service name).
const HostValkey = "valkey"

// PortValkey is Valkey's port in its container.
const PortValkey = 6379

// Valkey: the Celery broker. The password comes from a mounted secret config
// file, so it never appears on a command line; AOF persistence, and a memory
// cap that refuses writes rather than evicting queued tasks.
func Valkey(c Config) Spec {
	s := Spec{
		Name:  HostValkey,
		Image: c.ValkeyImage,
		Args: []string{"valkey-server", SecretsDir + "/valkey.conf",
			"--appendonly", "yes",
			"--maxmemory", c.ValkeyMaxmemory,
			"--maxmemory-policy", "noeviction",
			"--dir", ValkeyData},
		Env:        map[string]string{},
		SecretEnv:  map[string]string{"REDISCLI_AUTH": SecretValkeyPassword},
		SecretFile: map[string]string{SecretsDir + "/valkey.conf": SecretValkeyConf},
		Ports:      []int{PortValkey},
		Volumes:    []Volume{c.valkeyVolume()},
	}
	return holding(c, supervise(s, "TERM"), HostValkey)
}
