package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// wireConfig is Config as the admin endpoint reads and writes it: durations
// as Go duration strings ("250ms", "2s"), which people type more easily than
// nanoseconds.
type wireConfig struct {
	Latency       string   `json:"latency"`
	ErrorRate     float64  `json:"error_rate"`
	ThrottleRate  float64  `json:"throttle_rate"`
	RetryAfter    string   `json:"retry_after"`
	ResetRate     float64  `json:"reset_rate"`
	DropReplyRate float64  `json:"drop_reply_rate"`
	MaxConcurrent int      `json:"max_concurrent"`
	Seed          int64    `json:"seed"`
	Lies          []string `json:"lies"`
}

func toWire(c Config) wireConfig {
	return wireConfig{
		Latency:       c.Latency.String(),
		ErrorRate:     c.ErrorRate,
		ThrottleRate:  c.ThrottleRate,
		RetryAfter:    c.RetryAfter.String(),
		ResetRate:     c.ResetRate,
		DropReplyRate: c.DropReplyRate,
		MaxConcurrent: c.MaxConcurrent,
		Seed:          c.Seed,
		Lies:          c.Lies,
	}
}

func (w wireConfig) config() (Config, error) {
	lat, err := time.ParseDuration(w.Latency)
	if err != nil {
		return Config{}, fmt.Errorf("latency: %w", err)
	}
	ra, err := time.ParseDuration(w.RetryAfter)
	if err != nil {
		return Config{}, fmt.Errorf("retry_after: %w", err)
	}
	c := Config{
		Latency: lat, ErrorRate: w.ErrorRate, ThrottleRate: w.ThrottleRate, RetryAfter: ra,
		ResetRate: w.ResetRate, DropReplyRate: w.DropReplyRate, MaxConcurrent: w.MaxConcurrent, Seed: w.Seed, Lies: w.Lies,
	}
	return c, c.validate()
}

func (c Config) validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"error_rate", c.ErrorRate}, {"throttle_rate", c.ThrottleRate}, {"reset_rate", c.ResetRate}, {"drop_reply_rate", c.DropReplyRate}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("%s: %v is not in [0, 1]", r.name, r.v)
		}
	}
	if c.Latency < 0 || c.RetryAfter < 0 || c.MaxConcurrent < 0 {
		return fmt.Errorf("latency, retry_after and max_concurrent must not be negative")
	}
	return nil
}

// adminState is the body of GET and of a successful PUT or DELETE.
type adminState struct {
	Name   string     `json:"name"`
	Config wireConfig `json:"config"`
	Stats  Stats      `json:"stats"`
}

// AdminHandler serves the injector's control endpoint:
//
//	GET     the config and the counters, as JSON
//	PUT     a JSON config; fields left out keep their current value, so
//	        `{"error_rate":0.2}` changes only the error rate
//	DELETE  resets the counters
//
// It is meant to be mounted under AdminPrefix (the simulators use
// /_sim/faults), where it is never itself injected.
func (i *Injector) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut:
			wc := toWire(i.Config())
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&wc); err != nil {
				http.Error(w, "faults: "+err.Error(), http.StatusBadRequest)
				return
			}
			cfg, err := wc.config()
			if err != nil {
				http.Error(w, "faults: "+err.Error(), http.StatusBadRequest)
				return
			}
			i.Set(cfg)
		case http.MethodDelete:
			i.Reset()
		default:
			w.Header().Set("Allow", "GET, PUT, DELETE")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(adminState{Name: i.name, Config: toWire(i.Config()), Stats: i.Stats()})
	})
}
