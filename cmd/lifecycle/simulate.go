package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
)

func init() {
	register("simulate", "run the Artifi, Zoho Bigin and IBM BPM simulators on loopback, with demo data", runSimulate)
}

func runSimulate(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(e.stdout)
	var opts sim.Options
	fs.StringVar(&opts.ArtifiAddr, "artifi-addr", "127.0.0.1:7101", "Artifi simulator address (loopback only)")
	fs.StringVar(&opts.BiginAddr, "bigin-addr", "127.0.0.1:7102", "Zoho Bigin simulator address, accounts server included (loopback only)")
	fs.StringVar(&opts.BPMAddr, "bpm-addr", "127.0.0.1:7103", "IBM BPM simulator address (loopback only)")
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: lifecycle simulate [flags]\n\n%s.\nFaults can be changed while it runs: PUT /_sim/faults on each simulator.\n\nFlags:\n", commands["simulate"].summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return config.ErrHelp
		}
		return &usageError{err.Error()}
	}
	set, err := sim.Start(ctx, opts)
	if err != nil {
		return &usageError{err.Error()}
	}
	defer set.Close()
	fmt.Fprintln(e.stdout, "simulators running (Ctrl-C to stop); point a worker at them with:")
	printSimulatorEnv(e.stdout, set)
	<-ctx.Done()
	return nil
}

func printSimulatorEnv(w io.Writer, set *sim.Set) {
	for _, kv := range set.Env() {
		fmt.Fprintf(w, "  export %s=%s\n", kv[0], kv[1])
	}
}

// useSimulators points every upstream that cfg leaves unconfigured at set.
func useSimulators(cfg *config.Config, set *sim.Set) {
	c := set.Credentials
	if !cfg.Artifi.Configured() {
		cfg.Artifi.URL, cfg.Artifi.WebsiteID, cfg.Artifi.ClientKey = set.ArtifiURL, c.ArtifiWebsiteID, config.Secret(c.ArtifiClientKey)
	}
	if !cfg.Bigin.Configured() {
		cfg.Bigin.AccountsURL, cfg.Bigin.APIDomain = set.BiginURL, set.BiginURL
		cfg.Bigin.ClientID, cfg.Bigin.ClientSecret, cfg.Bigin.RefreshToken = c.BiginClientID, config.Secret(c.BiginClientSecret), config.Secret(c.BiginRefreshToken)
	}
	if !cfg.BPM.Configured() {
		cfg.BPM.URL, cfg.BPM.Username, cfg.BPM.Password = set.BPMURL, c.BPMUsername, config.Secret(c.BPMPassword)
	}
}
