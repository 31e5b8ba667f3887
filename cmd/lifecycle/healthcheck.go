package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/config"
)

// healthcheckTimeout bounds one probe: a container engine runs it every few
// seconds, and a hung server must fail it rather than pile probes up.
const healthcheckTimeout = 3 * time.Second

// newHealthcheckCmd is the container health check: images are FROM scratch,
// with no shell and no curl, so the binary probes itself. Exit 0 when the
// URL answers 200, 1 otherwise, with one line saying what it got.
func newHealthcheckCmd(e env) *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "exit 0 if a lifecycle HTTP endpoint answers 200 (a container health check)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("url") {
				target = ownHealthz(e.getenv("LIFECYCLE_HTTP_ADDR"))
			}
			u, err := url.Parse(target)
			if err != nil || u.Scheme != "http" || u.Host == "" {
				return &usageError{fmt.Sprintf("--url: want http://host:port/path, got %q", target)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), healthcheckTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return &usageError{"--url: " + err.Error()}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", target, resp.Status)
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", target, resp.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "endpoint to probe (default: /healthz on the port LIFECYCLE_HTTP_ADDR names, on loopback); /readyz also checks Redis")
	return cmd
}

// ownHealthz is /healthz of a server listening on addr (LIFECYCLE_HTTP_ADDR),
// seen from inside its container: an address that listens everywhere is
// reached on loopback.
func ownHealthz(addr string) string {
	host, port, err := net.SplitHostPort(cmp.Or(addr, config.HTTPAddrDefault))
	if err != nil {
		return "http://" + addr + "/healthz" // refused with its value by RunE
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
