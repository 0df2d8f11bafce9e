package pipeline

import "fmt"

// HostGateway is the service that carries the stack's host-facing ports.
const HostGateway = "gateway"

// Forward is one host-facing port of a gateway and the service port it
// relays to.
type Forward struct {
	Port int // on the host, and in the gateway
	Host string
	To   int
}

// Gateway forwards the stack's host-facing ports to their services
// (forward.py, a relay that keeps Dagger's host tunnel working, on the
// Airflow image the stack pulls anyway), so that one service carries the
// whole stack's ports to `dagger call up up`; it needs every long-running service, so starting
// it starts the stack. Valkey is on the host only for remote workers
// (o.RemoteWorkers): with the option off, nothing else is reachable.
func Gateway(c Config, o Options) Spec {
	fwds := []Forward{{c.AirflowAPIPort, HostAPIServer, PortAPIServer}, {c.PostgresPort, HostPostgres, PortPostgres},
		{c.LivePort, HostLive, PortLive}}
	if o.Flower {
		fwds = append(fwds, Forward{c.FlowerPort, HostFlower, PortFlower})
	}
	if o.RemoteWorkers {
		fwds = append(fwds, Forward{c.ValkeyPort, HostValkey, PortValkey})
	}
	return gateway(c, fwds)
}

// gateway is a gateway service for fwds. Container-side ports equal the
// host ports.
func gateway(c Config, fwds []Forward) Spec {
	// As root: a host port below 1024 is the gateway's port too.
	s := Spec{Name: HostGateway, Kind: Service, Image: c.AirflowImage, User: "0:0", Args: []string{"python3", forwardScript}}
	for _, f := range fwds {
		s.Args = append(s.Args, fmt.Sprintf("%d:%s:%d", f.Port, f.Host, f.To))
		s.Ports = append(s.Ports, f.Port)
	}
	return s
}
