package main

import (
	"net/http"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// redisClientOpt hands asynqmon the process's Redis client, so that the
// monitor reads the same Redis (Sentinel, TLS, password) without a second
// set of settings.
type redisClientOpt struct{ rdb redis.UniversalClient }

func (o redisClientOpt) MakeRedisClient() any { return o.rdb }

// newMonitor is asynq's monitor, served at /monitor/ behind the admin scope
// (api.Console). Its page and scripts are embedded in asynqmon and work
// with no internet (its page links Google's fonts, and falls back to the
// browser's when they cannot load). It is never closed: closing it would
// close the shared client.
func newMonitor(rdb redis.UniversalClient) http.Handler {
	return asynqmon.New(asynqmon.Options{
		RootPath:     "/monitor",
		RedisConnOpt: redisClientOpt{rdb},
		// Read only: a retry or delete from the monitor would reach no
		// audit trail. The console's dead-letter page does them, audited.
		ReadOnly: true,
	})
}
