package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/tracing"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func newErasureCmd(e env) *cobra.Command {
	cmd := parentCmd("erasure", "GDPR erasure requests: file, status, list (open, by days left), extend, resolve",
		`GDPR erasure requests: file, status, list (open, by days left), extend, resolve.
Redis settings (--redis-url / LIFECYCLE_REDIS_URL) as for every command.`,
		func(cmd *cobra.Command) error {
			if err := cmd.Help(); err != nil {
				return err
			}
			return &usageError{"missing subcommand (file, status, list, extend, resolve)"}
		}, func(sub string) error {
			return &usageError{fmt.Sprintf("unknown subcommand %q (file, status, list, extend, resolve)", sub)}
		})

	var p tasks.UserErasePayload
	var bigin, filedAt string
	file := erasureCmd(e, "file --request-id R --user-id U --filed-by WHO [--filed-at RFC3339] [--bigin Contacts:123,Accounts:456] [--bpm-user NAME]",
		"file a request: its deadline runs from --filed-at", erasureArgs("file", 0, "flags only"),
		func(ctx context.Context, svc *erasure.Service, _ []string) error {
			var err error
			p.FiledAt = time.Now().UTC()
			if filedAt != "" {
				if p.FiledAt, err = time.Parse(time.RFC3339, filedAt); err != nil {
					return &usageError{"--filed-at: want RFC 3339 such as 2026-01-31T10:00:00Z: " + err.Error()}
				}
			}
			if p.Bigin, err = parseBigin(bigin); err != nil {
				return err
			}
			ctx, span := tracing.Tracer().Start(ctx, "erasure file", trace.WithSpanKind(trace.SpanKindProducer))
			filed, err := svc.File(ctx, erasuretasks.Request(p))
			span.End()
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
		})
	ff := file.Flags()
	ff.StringVar(&p.RequestID, "request-id", "", "the privacy team's reference: filing it again changes nothing")
	ff.StringVar(&p.UserID, "user-id", "", "our user id; guest ids merged into it are erased too")
	ff.StringVar(&p.FiledBy, "filed-by", "", "opaque id of who filed it (it goes into the receipt, so not a name)")
	ff.StringVar(&filedAt, "filed-at", "", "when the request was received, RFC 3339 (default: now)")
	ff.StringVar(&bigin, "bigin", "", "the person's Bigin records whose photos go, as Module:record_id,...")
	ff.StringVar(&p.BPMUser, "bpm-user", "", "IBM BPM user name or id whose avatar is reset")

	var statusJSON bool
	status := erasureCmd(e, "status REQUEST_ID", "one request: status, steps done, due date, what fails",
		erasureIDArg("status"),
		func(ctx context.Context, svc *erasure.Service, args []string) error {
			rec, err := svc.Get(ctx, args[0])
			if err != nil {
				return err
			}
			if statusJSON {
				return writeJSONTo(e.stdout, rec)
			}
			printStatus(e.stdout, rec)
			return nil
		})
	status.Flags().BoolVar(&statusJSON, "json", false, "print the record as JSON")

	var listJSON bool
	list := erasureCmd(e, "list", "open requests, soonest due first, with days left and whether at risk",
		erasureArgs("list", 0, "no arguments"),
		func(ctx context.Context, svc *erasure.Service, _ []string) error {
			recs, err := svc.Open(ctx)
			if err != nil {
				return err
			}
			if listJSON {
				return writeJSONTo(e.stdout, recs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REQUEST\tUSER\tSTATUS\tSTEPS\tDUE\tDAYS LEFT\tAT RISK")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%d\t%v\n", r.Request.ID, r.Request.UserID, r.State.Status, r.StepsDone, r.State.StepsTotal, r.DueAt.Format("2006-01-02"), r.DaysLeft, r.AtRisk)
			}
			return tw.Flush()
		})
	list.Flags().BoolVar(&listJSON, "json", false, "print the records as JSON")

	var reason string
	extend := erasureCmd(e, "extend REQUEST_ID --reason TEXT", "extend a request's deadline, once: one month becomes three",
		erasureIDArg("extend"),
		func(ctx context.Context, svc *erasure.Service, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return &usageError{"erasure extend: --reason is required (GDPR Art. 12(3): the person must be told why)"}
			}
			if err := checkText("--reason", reason, maxReasonLen); err != nil {
				return err
			}
			rec, err := svc.Extend(ctx, args[0], reason)
			if errors.Is(err, erasure.ErrFinished) {
				return &usageError{fmt.Sprintf("erasure extend: request %s is done: there is no deadline left to extend", args[0])}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "request %s extended: due %s (%d days left)\n", rec.Request.ID, rec.DueAt.Format(time.RFC3339), rec.DaysLeft)
			return nil
		})
	extend.Flags().StringVar(&reason, "reason", "", "why, as the person will be told (required)")

	cmd.AddCommand(file, status, list, extend, newResolveCmd(e))
	return cmd
}

// erasureCmd is an erasure command: run gets the erasure service on the
// configured Redis. The log settings are read, as by every command, though
// nothing is logged.
func erasureCmd(e env, use, short string, args cobra.PositionalArgs, run func(ctx context.Context, svc *erasure.Service, args []string) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	load := bindSettings(cmd, e, config.GroupRedis|config.GroupLog)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		rdb, err := connectRedis(ctx, cfg)
		if err != nil {
			return err
		}
		defer rdb.Close()
		return run(ctx, newErasureService(rdb), args)
	}
	return cmd
}

// erasureIDArg is for the commands on one request: its id must follow the
// id grammar.
func erasureIDArg(sub string) cobra.PositionalArgs {
	one := erasureArgs(sub, 1, "one REQUEST_ID")
	return func(cmd *cobra.Command, args []string) error {
		if err := one(cmd, args); err != nil {
			return err
		}
		return checkIDArg("REQUEST_ID", args[0])
	}
}

func erasureArgs(sub string, n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{fmt.Sprintf("erasure %s: want %s", sub, what)}
		}
		return nil
	}
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
	for _, f := range r.State.Unconfirmed {
		fmt.Fprintf(w, "unconfirmed %s (%s): %s\n", f.Step, f.System, f.Answer)
	}
	for _, res := range r.Resolutions {
		fmt.Fprintf(w, "resolved  %s as %s by %s at %s: %s\n", res.Step, res.As, res.By, res.At.Format(time.RFC3339), res.Reason)
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

const receiptUsage = "usage: lifecycle receipt verify FILE|REQUEST_ID, or lifecycle receipt get REQUEST_ID"

// newReceiptCmd fetches and verifies receipts. Exit status: 0 valid, 1
// altered, not a receipt or not found, 2 bad usage or no key.
func newReceiptCmd(e env) *cobra.Command {
	cmd := parentCmd("receipt", "fetch an erasure receipt from storage, or verify its HMAC",
		`fetch an erasure receipt from storage (receipt get REQUEST_ID), or verify its HMAC
(receipt verify FILE|REQUEST_ID: a file, or the request's receipt in storage).

The key comes from --receipt-key or LIFECYCLE_RECEIPT_KEY[_FILE]; without one, the
key lifecycle dev keeps beside its file store (.lifecycle/receipt.key) is used.
Exit status: 0 valid, 1 altered, not a receipt or not found, 2 bad usage or no key.`,
		func(*cobra.Command) error { return &usageError{receiptUsage} },
		func(string) error { return &usageError{receiptUsage} })
	verify := &cobra.Command{
		Use:   "verify FILE|REQUEST_ID",
		Short: "check a receipt's HMAC (exit status: 0 valid, 1 altered, not a receipt or not found, 2 bad usage or no key)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{"usage: lifecycle receipt verify FILE|REQUEST_ID"}
			}
			return nil
		},
	}
	loadVerify := bindSettings(verify, e, config.GroupErasure|config.GroupStorage|config.GroupLog)
	verify.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := loadVerify()
		if err != nil {
			return err
		}
		key, err := receiptKey(cfg)
		if err != nil {
			return err
		}
		name, doc, err := readReceipt(cmd.Context(), cfg, args[0])
		if err != nil {
			return err
		}
		if err := erasure.Verify(doc, key); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		var rc erasure.Receipt
		_ = json.Unmarshal(doc, &rc)
		fmt.Fprintf(e.stdout, "%s: valid receipt of request %s (finished %s, verification %s)\n", name, rc.RequestID, rc.FinishedAt.Format(time.RFC3339), rc.Verification.Result)
		return nil
	}
	get := &cobra.Command{
		Use:   "get REQUEST_ID",
		Short: "print a request's receipt from storage (JSON, as signed)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{"usage: lifecycle receipt get REQUEST_ID"}
			}
			return nil
		},
	}
	loadGet := bindSettings(get, e, config.GroupStorage|config.GroupLog)
	get.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := loadGet()
		if err != nil {
			return err
		}
		store, err := openExistingStore(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer store.Close()
		doc, err := getReceipt(cmd.Context(), store, args[0])
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(doc)
		return err
	}
	cmd.AddCommand(verify, get)
	return cmd
}

// receiptKey is the configured key, or else the one lifecycle dev keeps
// beside its file store.
func receiptKey(cfg *config.Config) ([]byte, error) {
	if key := cfg.ReceiptKey.Value(); key != "" {
		return []byte(key), nil
	}
	if path, ok := devReceiptKeyPath(cfg.Storage); ok {
		if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	return nil, &usageError{"no key: set --receipt-key or LIFECYCLE_RECEIPT_KEY (or LIFECYCLE_RECEIPT_KEY_FILE); lifecycle dev's is found beside its store"}
}

// readReceipt reads arg as a file when one exists by that name, and else as
// a request id whose receipt is in storage. name is what messages call it.
func readReceipt(ctx context.Context, cfg *config.Config, arg string) (name string, doc []byte, err error) {
	if doc, err := os.ReadFile(arg); err == nil {
		return arg, doc, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", nil, &usageError{err.Error()}
	}
	store, err := openExistingStore(ctx, cfg)
	if err != nil {
		return "", nil, err
	}
	defer store.Close()
	doc, err = getReceipt(ctx, store, arg)
	return skeys.Receipt(arg), doc, err
}

// getReceipt reads the receipt of request id from store.
func getReceipt(ctx context.Context, store storage.Store, id string) ([]byte, error) {
	r, err := store.Get(ctx, skeys.Receipt(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no receipt of request %q in %s (no file by that name either): is it done? see lifecycle erasure status", id, store)
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
