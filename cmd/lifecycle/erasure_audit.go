package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// newErasureAuditCmd is `erasure audit ID`: re-read every system and the
// store for the subjects of a finished request, by their read paths, write
// the signed audit record beside the receipt, and reopen the request as
// needs_review on any finding. It is what the worker's scheduled re-audit
// does (erasure:audit), on demand.
func newErasureAuditCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit REQUEST_ID",
		Short: "re-read every system for a finished request's subjects; reopen it as needs_review on any finding",
		Args:  erasureIDArg("audit"),
	}
	load := bindSettings(cmd, e, config.GroupRedis|config.GroupStorage|config.GroupErasure|config.GroupUpstream|config.GroupLog)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		op, err := openOperator(ctx, "erasure audit", load)
		if err != nil {
			return err
		}
		defer op.rdb.Close()
		cfg, key, rdb, who := op.cfg, op.key, op.rdb, op.who
		store, err := openExistingStore(ctx, cfg)
		if err != nil {
			return err
		}
		up, err := openUpstreams(cfg, rdb, zerolog.Nop())
		if err != nil {
			return err
		}
		ids := identity.New(rdb)
		ex := &erasure.Executor{Store: erasure.NewStore(rdb), Objects: store, Aliases: ids.Aliases,
			Artifi: up.artifi, Bigin: up.bigin, BPM: up.bpm, ReceiptKey: key, Now: time.Now, Log: zerolog.Nop()}
		// A system not configured here would go unread: the audit would
		// pass on what it never saw.
		if up.artifi == nil || up.bigin == nil || up.bpm == nil {
			return &usageError{"erasure audit: every upstream must be configured (LIFECYCLE_ARTIFI_*, LIFECYCLE_BIGIN_*, LIFECYCLE_BPM_*): an audit must read every system"}
		}
		ar, err := ex.Audit(ctx, args[0], "cli:"+who)
		if errors.Is(err, erasure.ErrNotFound) || errors.Is(err, erasure.ErrNotFinished) {
			return &usageError{err.Error()}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "request %s: audit %s: %d checks, %d findings\n", ar.RequestID, ar.Result, len(ar.Checks), len(ar.Findings))
		for _, f := range ar.Findings {
			fmt.Fprintf(e.stdout, "  %s\t%s\t%s\n", f.System, f.Step, f.Answer)
		}
		if len(ar.Findings) > 0 {
			fmt.Fprintf(e.stdout, "request reopened as needs_review (erasure resolve settles each finding)\n")
		}
		fmt.Fprintf(e.stdout, "audit record %s\n", skeys.ErasureAudit(ar.RequestID, ar.AuditedAt))
		return nil
	}
	return cmd
}

// operator is what a command acting on erasures as a person needs: who
// they are (the OS user, for the audit trail and the receipt), the
// settings, the receipt signing key, and Redis (the caller closes it).
type operator struct {
	who string
	cfg *config.Config
	key ed25519.PrivateKey
	rdb redis.UniversalClient
}

func openOperator(ctx context.Context, command string, load func() (*config.Config, error)) (*operator, error) {
	u, err := user.Current()
	if err != nil || u.Username == "" {
		return nil, fmt.Errorf("%s: cannot tell who you are (OS user): %v", command, err)
	}
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	key, err := signingKey(cfg)
	if err != nil {
		return nil, err
	}
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &operator{who: u.Username, cfg: cfg, key: key, rdb: rdb}, nil
}

// signingKey is the configured Ed25519 signing key, or else the one
// lifecycle dev keeps beside its file store.
func signingKey(cfg *config.Config) (ed25519.PrivateKey, error) {
	text, from := cfg.ReceiptSigningKey.Value(), "LIFECYCLE_RECEIPT_SIGNING_KEY"
	if text == "" {
		path, ok := devSigningKeyPath(cfg.Storage)
		b, rerr := os.ReadFile(path)
		if !ok || rerr != nil {
			return nil, &usageError{"no signing key: set LIFECYCLE_RECEIPT_SIGNING_KEY[_FILE]; lifecycle dev's is found beside its store"}
		}
		text, from = string(b), path
	}
	key, err := erasure.ParsePrivateKey(text)
	if err != nil {
		return nil, &usageError{from + ": " + err.Error()}
	}
	return key, nil
}

// scheduleAudit enqueues the re-audit of a finished request, after
// LIFECYCLE_ERASURE_REAUDIT_AFTER, for whatever finishes requests (the
// worker, and erasure resolve).
//
// One task per finish, scheduled in asynq (Redis) at the finish, rather than
// a periodic scan of finished requests: a scheduled task survives restarts
// of every process like any task, needs no scheduler process to be running
// on the day, and its id (request and finish time) makes an enqueue repeated
// by a resumed finish a no-op. What it cannot survive is losing Redis, which
// loses the requests themselves too.
func scheduleAudit(rdb redis.UniversalClient, cfg *config.Config) func(ctx context.Context, id string, finishedAt time.Time) error {
	tc := newTaskClient(rdb)
	return func(ctx context.Context, id string, finishedAt time.Time) error {
		_, err := tc.EnqueueErasureAudit(ctx, tasks.ErasureAuditPayload{RequestID: id, FinishedAt: finishedAt}, cmp.Or(cfg.ErasureReauditAfter, erasure.ReauditAfterDefault))
		return err
	}
}
