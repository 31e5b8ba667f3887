package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
)

// newResolveCmd is `erasure resolve ID --step S --as deleted|retained
// --reason TEXT`: a person's decision on an unconfirmed step of a request in
// needs_review. Who resolved it is the OS user running the command. The last
// resolution finishes the request (receipt written), so the command needs the
// storage and receipt key settings as well as Redis.
func newResolveCmd(e env) *cobra.Command {
	var step, as, reason string
	cmd := &cobra.Command{
		Use:   "resolve REQUEST_ID --step STEP --as deleted|retained --reason TEXT",
		Short: "resolve an unconfirmed step of a request in needs_review (the last one finishes it)",
		Args:  erasureIDArg("resolve"),
	}
	load := bindSettings(cmd, e, config.GroupRedis|config.GroupStorage|config.GroupErasure|config.GroupLog)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case strings.TrimSpace(step) == "":
			return &usageError{"erasure resolve: --step is required (erasure status names the unconfirmed steps)"}
		case as != string(erasure.Deleted) && as != string(erasure.Retained):
			return &usageError{fmt.Sprintf("erasure resolve: --as must be deleted or retained, got %q", as)}
		case strings.TrimSpace(reason) == "":
			return &usageError{"erasure resolve: --reason is required: it goes into the receipt"}
		}
		if err := checkText("--reason", reason, maxReasonLen); err != nil {
			return err
		}
		ctx := cmd.Context()
		op, err := openOperator(ctx, "erasure resolve", load)
		if err != nil {
			return err
		}
		defer op.rdb.Close()
		cfg, key, rdb, who := op.cfg, op.key, op.rdb, op.who
		store, err := openStore(ctx, cfg, zerolog.Nop(), nil)
		if err != nil {
			return err
		}
		ids := identity.New(rdb)
		ex := &erasure.Executor{Store: erasure.NewStore(rdb), Objects: store, Tombstone: ids.SetTombstone,
			ReceiptKey: key, Now: time.Now, Log: zerolog.Nop(), ScheduleAudit: scheduleAudit(rdb, cfg)}
		rec, err := ex.Resolve(ctx, args[0], step, erasure.Outcome(as), reason, who)
		if errors.Is(err, erasure.ErrNotInReview) || errors.Is(err, erasure.ErrNotFound) {
			return &usageError{err.Error()}
		}
		if err != nil {
			return err
		}
		actx := audit.NewContext(ctx, &audit.Recorder{Redis: rdb, Store: store}, who)
		if err := audit.Record(actx, audit.Entry{Action: audit.ErasureResolve, Subject: rec.Request.ID, Why: step + " as " + as + ": " + reason}); err != nil {
			return fmt.Errorf("erasure resolve: resolved, but the audit trail did not record it: %w", err)
		}
		fmt.Fprintf(e.stdout, "request %s: step %s resolved as %s by %s; status %s\n", rec.Request.ID, step, as, who, rec.State.Status)
		if rec.ReceiptKey != "" {
			fmt.Fprintf(e.stdout, "receipt %s\n", rec.ReceiptKey)
		}
		return nil
	}
	cmd.Flags().StringVar(&step, "step", "", "the unconfirmed step or check, as erasure status names it")
	cmd.Flags().StringVar(&as, "as", "", "deleted (checked: the data is gone) or retained (kept, for the reason given)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the receipt")
	return cmd
}
