package harness

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Redis is a Redis server in a container.
type Redis struct {
	Container testcontainers.Container
	// Addr is host:port on localhost, for the test process.
	Addr string
	// InNetwork is redis://alias:6379 for containers on the same network.
	InNetwork string
}

// Opt is the asynq connection for the test process.
func (r Redis) Opt() asynq.RedisClientOpt { return asynq.RedisClientOpt{Addr: r.Addr} }

// URL is the redis:// URL for processes on this machine.
func (r Redis) URL() string { return "redis://" + r.Addr }

// StartRedis starts Debian's redis-server (image lifecycle-redis:dev) on nw,
// reachable as "redis" from other containers of nw. nw may be nil.
func StartRedis(t testing.TB, nw *testcontainers.DockerNetwork) Redis {
	t.Helper()
	req := testcontainers.ContainerRequest{
		Image:        ImageRedis,
		ExposedPorts: []string{"6379/tcp"},
		WaitingFor:   wait.ForLog("Ready to accept connections"),
	}
	if nw != nil {
		req.Networks = []string{nw.Name}
		req.NetworkAliases = map[string][]string{nw.Name: {"redis"}}
	}
	c := start(t, req)
	return Redis{Container: c, Addr: endpoint(t, c, "6379/tcp"), InNetwork: "redis://redis:6379"}
}
