package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func init() {
	register("erasure", "GDPR erasure requests: file, status, list (open, by days left), extend", runErasure)
	register("receipt", "verify an erasure receipt's HMAC: receipt verify FILE", runReceipt)
}

const erasureUsage = `Usage:
  lifecycle erasure file --request-id R --user-id U --filed-by WHO [--filed-at RFC3339]
                         [--bigin Contacts:123,Accounts:456] [--bpm-user NAME]
  lifecycle erasure status R [--json]
  lifecycle erasure list [--json]
  lifecycle erasure extend R --reason TEXT
Redis settings (--redis-url / LIFECYCLE_REDIS_URL) as for every command.`

func runErasure(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stdout, erasureUsage)
		if len(args) == 0 {
			return &usageError{"missing subcommand (file, status, list, extend)"}
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("erasure "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	var p tasks.UserErasePayload
	var bigin, filedAt, reason string
	fs.StringVar(&p.RequestID, "request-id", "", "")
	fs.StringVar(&p.UserID, "user-id", "", "")
	fs.StringVar(&p.BPMUser, "bpm-user", "", "")
	fs.StringVar(&p.FiledBy, "filed-by", "", "")
	fs.StringVar(&filedAt, "filed-at", "", "")
	fs.StringVar(&bigin, "bigin", "", "")
	fs.StringVar(&reason, "reason", "", "")
	own, rest, pos := splitArgs(fs, args)
	if err := fs.Parse(own); err != nil {
		return &usageError{err.Error()}
	}
	cfg, _, err := parse(e, "erasure", config.GroupRedis, rest)
	if err != nil {
		return err
	}
	if err := cfg.RequireRedis(); err != nil {
		return err
	}
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	svc := newErasureService(rdb)

	wantArgs := func(n int, what string) error {
		if len(pos) != n {
			return &usageError{fmt.Sprintf("erasure %s: want %s", sub, what)}
		}
		return nil
	}
	switch sub {
	case "file":
		if err := wantArgs(0, "flags only"); err != nil {
			return err
		}
		p.FiledAt = time.Now().UTC()
		if filedAt != "" {
			if p.FiledAt, err = time.Parse(time.RFC3339, filedAt); err != nil {
				return &usageError{"--filed-at: want RFC 3339 such as 2026-01-31T10:00:00Z: " + err.Error()}
			}
		}
		if p.Bigin, err = parseBigin(bigin); err != nil {
			return err
		}
		filed, err := svc.File(ctx, erasuretasks.Request(p))
		var ve *tasks.ValidationError
		if errors.As(err, &ve) {
			return &usageError{err.Error()}
		}
		if err != nil {
			return err
		}
		rec := filed.Record
		switch {
		case filed.Duplicate:
			fmt.Fprintf(e.stdout, "request %s was filed before (nothing changed): status %s, task %s, due %s\n", rec.Request.ID, rec.State.Status, rec.TaskID, rec.DueAt.Format(time.RFC3339))
		case rec.JoinedTo != "":
			fmt.Fprintf(e.stdout, "request %s joined request %s, which is erasing the same user: due %s\n", rec.Request.ID, rec.JoinedTo, rec.DueAt.Format(time.RFC3339))
		default:
			fmt.Fprintf(e.stdout, "request %s filed: task %s, due %s\n", rec.Request.ID, rec.TaskID, rec.DueAt.Format(time.RFC3339))
		}
		return nil
	case "status":
		if err := wantArgs(1, "one REQUEST_ID"); err != nil {
			return err
		}
		rec, err := svc.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(e.stdout, rec)
		}
		printStatus(e.stdout, rec)
		return nil
	case "list":
		if err := wantArgs(0, "no arguments"); err != nil {
			return err
		}
		recs, err := svc.Open(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(e.stdout, recs)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REQUEST\tUSER\tSTATUS\tSTEPS\tDUE\tDAYS LEFT\tAT RISK")
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%d\t%v\n", r.Request.ID, r.Request.UserID, r.State.Status, r.StepsDone, r.State.StepsTotal, r.DueAt.Format("2006-01-02"), r.DaysLeft, r.AtRisk)
		}
		return tw.Flush()
	case "extend":
		if err := wantArgs(1, "one REQUEST_ID"); err != nil {
			return err
		}
		if strings.TrimSpace(reason) == "" {
			return &usageError{"erasure extend: --reason is required (GDPR Art. 12(3): the person must be told why)"}
		}
		rec, err := svc.Extend(ctx, pos[0], reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "request %s extended: due %s (%d days left)\n", rec.Request.ID, rec.DueAt.Format(time.RFC3339), rec.DaysLeft)
		return nil
	}
	return &usageError{fmt.Sprintf("unknown subcommand %q (file, status, list, extend)", sub)}
}

func printStatus(w io.Writer, r erasure.Record) {
	fmt.Fprintf(w, "request   %s\nuser      %s\nstatus    %s\n", r.Request.ID, r.Request.UserID, r.State.Status)
	if r.JoinedTo != "" {
		fmt.Fprintf(w, "joined    %s (this request is honoured by that one)\n", r.JoinedTo)
	}
	fmt.Fprintf(w, "steps     %d/%d done\n", r.StepsDone, r.State.StepsTotal)
	fmt.Fprintf(w, "filed     %s by %s\ndue       %s (%d days left)\n", r.Request.FiledAt.Format(time.RFC3339), r.Request.FiledBy, r.DueAt.Format(time.RFC3339), r.DaysLeft)
	if r.Extension != nil {
		fmt.Fprintf(w, "extended  %s: %s\n", r.Extension.GrantedAt.Format(time.RFC3339), r.Extension.Reason)
	}
	if r.AtRisk {
		fmt.Fprintln(w, "AT RISK   of missing the deadline")
	}
	for _, f := range r.State.Failing {
		fmt.Fprintf(w, "failing   %s (%s): %s\n", f.Step, f.Class, f.Error)
	}
	for _, rem := range r.State.Remains {
		fmt.Fprintf(w, "remains   %s\n", rem)
	}
	if r.ReceiptKey != "" {
		fmt.Fprintf(w, "receipt   %s\n", r.ReceiptKey)
	}
}

// parseBigin reads "Contacts:123,Accounts:456".
func parseBigin(s string) ([]tasks.BiginRecord, error) {
	if s == "" {
		return nil, nil
	}
	var out []tasks.BiginRecord
	for part := range strings.SplitSeq(s, ",") {
		m, id, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, &usageError{fmt.Sprintf("--bigin: want Module:record_id, got %q", part)}
		}
		out = append(out, tasks.BiginRecord{Module: m, RecordID: id})
	}
	return out, nil
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// splitArgs separates a subcommand's own flags (those fs defines) from the
// shared settings that config.Parse reads, and both from positional
// arguments, wherever they appear: "status R --json --redis-url X" works as
// well as "status --json R".
func splitArgs(fs *flag.FlagSet, args []string) (own, rest, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		dst := &rest
		if f != nil {
			dst = &own
		}
		*dst = append(*dst, a)
		isBool := false
		if f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				isBool = true
			}
		}
		if !hasValue && !isBool && name != "h" && name != "help" && i+1 < len(args) {
			i++
			*dst = append(*dst, args[i])
		}
	}
	return own, rest, pos
}

// runReceipt verifies receipts. Exit status: 0 valid, 1 altered or not a
// receipt, 2 bad usage or no key.
func runReceipt(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(e.stdout, "Usage: lifecycle receipt verify FILE\n\nChecks an erasure receipt's HMAC with the key from --receipt-key or LIFECYCLE_RECEIPT_KEY[_FILE].\nExit status: 0 valid, 1 altered or not a receipt, 2 bad usage or no key.")
		return nil
	}
	if len(args) == 0 || args[0] != "verify" {
		return &usageError{"usage: lifecycle receipt verify FILE (key from --receipt-key or LIFECYCLE_RECEIPT_KEY[_FILE])"}
	}
	fs := flag.NewFlagSet("receipt verify", flag.ContinueOnError)
	own, rest, pos := splitArgs(fs, args[1:])
	_ = own
	if len(pos) != 1 {
		return &usageError{"usage: lifecycle receipt verify FILE"}
	}
	cfg, _, err := parse(e, "receipt", config.GroupErasure, rest)
	if err != nil {
		return err
	}
	key := cfg.ReceiptKey.Value()
	if key == "" {
		return &usageError{"no key: set --receipt-key or LIFECYCLE_RECEIPT_KEY (or LIFECYCLE_RECEIPT_KEY_FILE)"}
	}
	doc, err := os.ReadFile(pos[0])
	if err != nil {
		return &usageError{err.Error()}
	}
	if err := erasure.Verify(doc, []byte(key)); err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	var rc erasure.Receipt
	_ = json.Unmarshal(doc, &rc)
	fmt.Fprintf(e.stdout, "%s: valid receipt of request %s (finished %s, verification %s)\n", pos[0], rc.RequestID, rc.FinishedAt.Format(time.RFC3339), rc.Verification.Result)
	return nil
}
