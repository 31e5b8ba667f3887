package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
)

func newSimulateCmd(e env) *cobra.Command {
	var opts sim.Options
	var list bool
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "run the Artifi, Zoho Bigin and IBM BPM simulators on loopback, with demo data",
		Long: `run the Artifi, Zoho Bigin and IBM BPM simulators on loopback, with demo data.
Faults can be changed while it runs: PUT /_sim/faults on each simulator.
The demo data (photo ids, Bigin records, BPM users) is the same at every start;
--list prints it and exits.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list {
				// The same data at every start: seeded on free ports, listed.
				set, err := sim.Start(cmd.Context(), sim.Options{})
				if err != nil {
					return err
				}
				defer set.Close()
				fmt.Fprintln(e.stdout, "demo data in the simulators (lifecycle dev and lifecycle simulate):")
				printDemo(e.stdout, set.Demo)
				return nil
			}
			set, err := sim.Start(cmd.Context(), opts)
			if err != nil {
				return &usageError{err.Error()}
			}
			defer set.Close()
			fmt.Fprintln(e.stdout, "simulators running (Ctrl-C to stop); point a worker at them with:")
			printSimulatorEnv(e.stdout, set)
			fmt.Fprintln(e.stdout, "demo data:")
			printDemo(e.stdout, set.Demo)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "print the demo data and exit")
	cmd.Flags().StringVar(&opts.ArtifiAddr, "artifi-addr", "127.0.0.1:7101", "Artifi simulator address (loopback only)")
	cmd.Flags().StringVar(&opts.BiginAddr, "bigin-addr", "127.0.0.1:7102", "Zoho Bigin simulator address, accounts server included (loopback only)")
	cmd.Flags().StringVar(&opts.BPMAddr, "bpm-addr", "127.0.0.1:7103", "IBM BPM simulator address (loopback only)")
	return cmd
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
