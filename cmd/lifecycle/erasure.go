package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/lifecycle-worker/lifecycle/internal/audit"
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
			case rec.State.Status == erasure.StatusAwaitingApproval:
				fmt.Fprintf(e.stdout, "request %s filed, awaiting approval by another identity (lifecycle erasure approve): due %s\n", rec.Request.ID, rec.DueAt.Format(time.RFC3339))
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
	var listState, listSince, listFormat string
	list := erasureCmd(e, "list [--state done|failed|needs_review|awaiting_approval|denied|open|all] [--since RFC3339] [--format table|json|csv]",
		"requests, soonest due first, with days left and whether at risk: open ones, or by --state",
		erasureArgs("list", 0, "no arguments"),
		func(ctx context.Context, svc *erasure.Service, _ []string) error {
			var f erasure.ListFilter
			var err error
			if listState != "" {
				if f, err = erasure.ParseStates(listState); err != nil {
					return &usageError{"--state: " + err.Error()}
				}
			}
			if listSince != "" {
				if f.Since, err = time.Parse(time.RFC3339, listSince); err != nil {
					return &usageError{"--since: want RFC 3339 such as 2026-01-31T10:00:00Z"}
				}
			}
			format := listFormat
			if listJSON {
				format = "json"
			}
			recs, err := svc.List(ctx, f)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				return writeJSONTo(e.stdout, recs)
			case "csv":
				return erasure.WriteCSV(e.stdout, recs)
			case "table":
			default:
				return &usageError{"--format: want table, json or csv"}
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REQUEST\tUSER\tSTATUS\tSTEPS\tDUE\tDAYS LEFT\tAT RISK")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%d\t%v\n", r.Request.ID, r.Request.UserID, r.State.Status, r.StepsDone, r.State.StepsTotal, r.DueAt.Format("2006-01-02"), r.DaysLeft, r.AtRisk)
			}
			return tw.Flush()
		})
	list.Flags().BoolVar(&listJSON, "json", false, "print the records as JSON (as --format json)")
	list.Flags().StringVar(&listState, "state", "", "states, comma-separated, or open or all (default: open)")
	list.Flags().StringVar(&listSince, "since", "", "only requests filed at or after this time (RFC 3339)")
	list.Flags().StringVar(&listFormat, "format", "table", "table, json or csv")

	var decisionReason string
	decide := func(name, short string, do func(*erasure.Service) func(ctx context.Context, id, reason string) (erasure.Record, error)) *cobra.Command {
		c := erasureCmd(e, name+" REQUEST_ID --reason TEXT", short, erasureIDArg(name),
			func(ctx context.Context, svc *erasure.Service, args []string) error {
				if name == "deny" && strings.TrimSpace(decisionReason) == "" {
					return &usageError{"erasure deny: --reason is required"}
				}
				if err := checkText("--reason", decisionReason, maxReasonLen); err != nil {
					return err
				}
				rec, err := do(svc)(ctx, args[0], decisionReason)
				switch {
				case errors.Is(err, erasure.ErrSameIdentity), errors.Is(err, erasure.ErrNotAwaiting):
					return &usageError{"erasure " + name + ": " + err.Error()}
				case err != nil:
					return err
				}
				fmt.Fprintf(e.stdout, "request %s %s: status %s, due %s (%d days left)\n", rec.Request.ID, rec.Approval.Decision, rec.State.Status, rec.DueAt.Format(time.RFC3339), rec.DaysLeft)
				return nil
			})
		c.Flags().StringVar(&decisionReason, "reason", "", "why (required to deny)")
		return c
	}
	approve := decide("approve", "let a request awaiting approval run (not by the identity that filed it)",
		func(s *erasure.Service) func(context.Context, string, string) (erasure.Record, error) {
			return s.Approve
		})
	deny := decide("deny", "refuse a request awaiting approval, with a reason",
		func(s *erasure.Service) func(context.Context, string, string) (erasure.Record, error) { return s.Deny })

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

	cmd.AddCommand(file, status, list, extend, approve, deny, newResolveCmd(e), newErasureAuditCmd(e))
	return cmd
}

// erasureCmd is an erasure command: run gets the erasure service on the
// configured Redis. The log settings are read, as by every command, though
// nothing is logged.
func erasureCmd(e env, use, short string, args cobra.PositionalArgs, run func(ctx context.Context, svc *erasure.Service, args []string) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	load := bindSettings(cmd, e, config.GroupRedis|config.GroupLog|config.GroupPrivacy)
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
		// No storage here: the worker copies the entries (audit.Recorder.Copy).
		ctx = audit.NewContext(ctx, &audit.Recorder{Redis: rdb}, audit.CLIUser())
		return run(ctx, newErasureService(rdb, cfg), args)
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
	if a := r.Approval; a != nil {
		if a.Decision == "" {
			fmt.Fprintf(w, "approval  awaiting an identity other than %s\n", a.FiledBy)
		} else {
			fmt.Fprintf(w, "approval  %s by %s at %s: %s\n", a.Decision, a.By, a.At.Format(time.RFC3339), a.Reason)
		}
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

// errNoReceipt means storage holds no receipt of the request.
var errNoReceipt = errors.New("no receipt")

const receiptUsage = "usage: lifecycle receipt verify FILE|REQUEST_ID [--public-key FILE|DIR], lifecycle receipt get REQUEST_ID, or lifecycle receipt public-key"

// newReceiptCmd fetches and verifies receipts, and prints the public key
// that verifies them. Exit status: 0 valid, 1 altered, not a receipt or not
// found, 2 bad usage or no key.
func newReceiptCmd(e env) *cobra.Command {
	cmd := parentCmd("receipt", "fetch an erasure receipt, verify its signature, print the public key to publish",
		`fetch an erasure receipt from storage (receipt get REQUEST_ID), verify its Ed25519
signature (receipt verify FILE|REQUEST_ID: a file, or the request's receipt in storage),
or print the public key that verifies receipts, to publish (receipt public-key).

receipt verify needs no secret: --public-key names a public key file, or a directory
of them (*.pem, one per signing key used, for rotation), and the receipt's key id
picks one. Without --public-key, the public half of the signing key
(LIFECYCLE_RECEIPT_SIGNING_KEY[_FILE], or lifecycle dev's beside its store) is used.
Receipts written before Ed25519 carry an HMAC instead; they verify with the old
key (--receipt-key or LIFECYCLE_RECEIPT_KEY[_FILE], or dev's .lifecycle/receipt.key).
Exit status: 0 valid, 1 altered, not a receipt or not found, 2 bad usage or no key.`,
		func(*cobra.Command) error { return &usageError{receiptUsage} },
		func(string) error { return &usageError{receiptUsage} })
	var publicKey string
	verify := &cobra.Command{
		Use:   "verify FILE|REQUEST_ID [--public-key FILE|DIR]",
		Short: "check a receipt's signature (exit status: 0 valid, 1 altered, not a receipt or not found, 2 bad usage or no key)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{"usage: lifecycle receipt verify FILE|REQUEST_ID [--public-key FILE|DIR]"}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&publicKey, "public-key", "", "public key file (as receipt public-key prints it), or a directory of *.pem public keys; needs no secret")
	loadVerify := bindSettings(verify, e, config.GroupErasure|config.GroupStorage|config.GroupLog)
	verify.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := loadVerify()
		if err != nil {
			return err
		}
		// Keys first: a missing key is bad usage, whatever the receipt.
		var keys erasure.PublicKeys
		if publicKey != "" {
			if keys, err = loadPublicKeys(publicKey); err != nil {
				return err
			}
		}
		name, doc, err := readReceipt(cmd.Context(), cfg, args[0])
		if err != nil {
			return err
		}
		var rc erasure.Receipt
		how := ""
		if erasure.IsLegacyHMAC(doc) {
			key, err := receiptKey(cfg)
			if err != nil {
				return err
			}
			if rc, err = erasure.VerifyHMAC(doc, key); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			how = "HMAC-SHA256 of a receipt written before Ed25519 signing: only holders of that key can check it"
		} else {
			if keys == nil {
				pub, _, err := signingPublicKey(cfg)
				if err != nil {
					return err
				}
				keys = erasure.PublicKeys{}
				keys.Add(pub)
			}
			var sig erasure.Signature
			if rc, sig, err = erasure.Verify(doc, keys); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			how = "Ed25519, key id " + sig.KeyID
		}
		fmt.Fprintf(e.stdout, "%s: valid receipt of request %s (finished %s, verification %s; %s)\n", name, rc.RequestID, rc.FinishedAt.Format(time.RFC3339), rc.Verification.Result, how)
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
	pubCmd := &cobra.Command{
		Use:   "public-key",
		Short: "print the public key that verifies receipts (PEM, after a line naming its key id), to publish",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 {
				return &usageError{"usage: lifecycle receipt public-key"}
			}
			return nil
		},
	}
	loadPub := bindSettings(pubCmd, e, config.GroupErasure|config.GroupStorage|config.GroupLog)
	pubCmd.RunE = func(*cobra.Command, []string) error {
		cfg, err := loadPub()
		if err != nil {
			return err
		}
		pub, _, err := signingPublicKey(cfg)
		if err != nil {
			return err
		}
		out, err := erasure.MarshalPublicKey(pub)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}
	cmd.AddCommand(verify, get, pubCmd)
	return cmd
}

// signingPublicKey is the public half of the configured signing key, or
// else of the one lifecycle dev keeps beside its file store; from says
// where it came from.
func signingPublicKey(cfg *config.Config) (pub ed25519.PublicKey, from string, err error) {
	text, from := cfg.ReceiptSigningKey.Value(), "LIFECYCLE_RECEIPT_SIGNING_KEY"
	if text == "" {
		path, ok := devSigningKeyPath(cfg.Storage)
		b, rerr := os.ReadFile(path)
		if !ok || rerr != nil {
			return nil, "", &usageError{"no public key: give --public-key FILE|DIR (lifecycle receipt public-key prints it where the signing key is), or set LIFECYCLE_RECEIPT_SIGNING_KEY[_FILE]; lifecycle dev's is found beside its store"}
		}
		text, from = string(b), path
	}
	key, err := erasure.ParsePrivateKey(text)
	if err != nil {
		return nil, "", &usageError{from + ": " + err.Error()}
	}
	return key.Public().(ed25519.PublicKey), from, nil
}

// maxPublicKeyFile bounds a public key file: a PEM key is under 200 bytes.
const maxPublicKeyFile = 64 << 10

// loadPublicKeys reads --public-key: one public key file, or every *.pem
// file of a directory (the keys of every signing key used, for rotation).
func loadPublicKeys(path string) (erasure.PublicKeys, error) {
	bad := func(format string, a ...any) error {
		return &usageError{"--public-key: " + fmt.Sprintf(format, a...)}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, bad("%v", err)
	}
	files := []string{path}
	if fi.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.pem"))
		if err != nil || len(files) == 0 {
			return nil, bad("no *.pem public key files in directory %s", path)
		}
	}
	keys := erasure.PublicKeys{}
	for _, f := range files {
		b, err := readSmall(f, maxPublicKeyFile)
		if err != nil {
			return nil, bad("%s: %v", f, err)
		}
		pub, err := erasure.ParsePublicKey(b)
		if err != nil {
			return nil, bad("%s: %v", f, err)
		}
		if prev, ok := keys[erasure.KeyID(pub)]; ok && !prev.Equal(pub) {
			return nil, bad("%s: another key in %s has the same key id %s", f, path, erasure.KeyID(pub))
		}
		keys.Add(pub)
	}
	return keys, nil
}

// readSmall reads a file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("larger than %d bytes: not a public key", limit)
	}
	return b, err
}

// receiptKey is the configured HMAC key of receipts written before Ed25519,
// or else the one lifecycle dev kept beside its file store.
func receiptKey(cfg *config.Config) ([]byte, error) {
	if key := cfg.ReceiptKey.Value(); key != "" {
		return []byte(key), nil
	}
	if path, ok := devReceiptKeyPath(cfg.Storage); ok {
		if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	return nil, &usageError{"receipt signed with an HMAC (written before Ed25519 signing): its key is needed: set --receipt-key or LIFECYCLE_RECEIPT_KEY (or LIFECYCLE_RECEIPT_KEY_FILE); lifecycle dev's is found beside its store"}
}

// readReceipt reads arg as a file when one exists by that name, and else as
// a request id whose receipt is in storage. name is what messages call it.
// Either way no more than erasure.MaxSignedSize is read.
func readReceipt(ctx context.Context, cfg *config.Config, arg string) (name string, doc []byte, err error) {
	if f, err := os.Open(arg); err == nil {
		defer f.Close()
		doc, err := erasure.ReadSigned(f)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", arg, err)
		}
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
		return nil, fmt.Errorf("%w: no receipt of request %q in %s (no file by that name either): is it done? see lifecycle erasure status", errNoReceipt, id, store)
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	doc, err := erasure.ReadSigned(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", skeys.Receipt(id), err)
	}
	return doc, nil
}
