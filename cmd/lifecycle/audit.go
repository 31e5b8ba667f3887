package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/config"
)

func newAuditCmd(e env) *cobra.Command {
	cmd := parentCmd("audit", "the audit trail: who changed what, when and why",
		`the audit trail: who changed what, when and why (filing, approving, denying,
extending erasures; retrying and deleting dead letters; restoring and purging
sweeps), from the CLI (cli:<OS user>) or the API (the token's name).
Redis keeps the last 90 days (at most 100,000 entries); storage keeps every
entry under audit/.`,
		showHelp, func(sub string) error { return &usageError{fmt.Sprintf("unknown audit command %q (want list)", sub)} })
	var asJSON bool
	var since, subject string
	list := &cobra.Command{Use: "list [--json] [--since RFC3339] [--subject ID]", Short: "list the audit trail, oldest first",
		Args: cobra.NoArgs}
	load := bindSettings(list, e, config.GroupRedis)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		f := audit.Filter{Subject: subject, Limit: 10_000}
		if since != "" {
			if f.Since, err = time.Parse(time.RFC3339, since); err != nil {
				return &usageError{"--since: want RFC 3339 such as 2026-01-31T10:00:00Z"}
			}
		}
		ctx := cmd.Context()
		rdb, err := connectRedis(ctx, cfg)
		if err != nil {
			return err
		}
		defer rdb.Close()
		entries, err := (&audit.Recorder{Redis: rdb}).List(ctx, f)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSONTo(e.stdout, entries)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AT\tWHO\tACTION\tSUBJECT\tWHY")
		for _, en := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", en.At.Format(time.RFC3339), en.Who, en.Action, en.Subject, en.Why)
		}
		return tw.Flush()
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the entries as JSON")
	list.Flags().StringVar(&since, "since", "", "only entries at or after this time (RFC 3339)")
	list.Flags().StringVar(&subject, "subject", "", "only entries about this request, task or sweep id")
	cmd.AddCommand(list)
	return cmd
}

func newTokenCmd(e env) *cobra.Command {
	cmd := parentCmd("token", "make API tokens for LIFECYCLE_API_TOKENS_FILE",
		`make API tokens for LIFECYCLE_API_TOKENS_FILE.

token new prints the secret once (give it to the caller) and the line to add
to the tokens file, which holds only its SHA-256.`,
		showHelp, func(sub string) error { return &usageError{fmt.Sprintf("unknown token command %q (want new)", sub)} })
	var name, scopes string
	newc := &cobra.Command{Use: "new --name NAME --scope SCOPE[,SCOPE...]", Short: "make a token: prints its secret once, and its tokens-file line",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ss, err := apitoken.ParseScopes(scopes)
			if err != nil {
				return &usageError{"--scope: " + err.Error()}
			}
			t, secret, err := apitoken.New(name, ss)
			if err != nil {
				return &usageError{"--name: " + err.Error()}
			}
			fmt.Fprintf(e.stdout, "secret (shown once; send it as Authorization: Bearer <secret>):\n%s\n\nline for LIFECYCLE_API_TOKENS_FILE:\n%s\n", secret, t.Line())
			return nil
		}}
	newc.Flags().StringVar(&name, "name", "", "who holds it: the name the audit trail shows")
	newc.Flags().StringVar(&scopes, "scope", "", "merge, photo, erasure:file, erasure:approve, erasure:read, admin (comma-separated)")
	cmd.AddCommand(newc)
	return cmd
}
