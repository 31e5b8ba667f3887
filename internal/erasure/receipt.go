package erasure

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/skeys"
)

// ReceiptVersion is the version of the receipt format.
const ReceiptVersion = 1

// Receipt is the proof that a request was carried out. It holds opaque ids
// only: no names, no BPM user name, no e-mail address.
type Receipt struct {
	Version    int        `json:"version"`
	RequestID  string     `json:"request_id"`
	UserID     string     `json:"user_id"`
	Subjects   []string   `json:"subjects"` // the user id and the guest ids merged into it
	FiledBy    string     `json:"filed_by"`
	FiledAt    time.Time  `json:"filed_at"`
	DueAt      time.Time  `json:"due_at"`
	Extension  *Extension `json:"extension,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at"`
	// JoinedBy lists requests filed for the same user while this one ran;
	// they are honoured by this erasure.
	JoinedBy []string `json:"joined_by,omitempty"`
	// JoinedTo is the request whose erasure honoured this one.
	JoinedTo     string          `json:"joined_to,omitempty"`
	Systems      []SystemSummary `json:"systems"`
	Steps        []ReceiptStep   `json:"steps"`
	Verification Verification    `json:"verification"`
	// Resolutions are the decisions people took on steps and checks whose
	// upstream answers proved nothing (status needs_review), with who and why.
	Resolutions []Resolution `json:"resolutions,omitempty"`
	HMAC        string       `json:"hmac_sha256,omitempty"`
}

// SystemSummary adds up the steps of one system. Count is the number of
// items erased (photos, objects, avatars...), whichever outcome recorded
// them.
type SystemSummary struct {
	System        string `json:"system"`
	Steps         int    `json:"steps"`
	Deleted       int    `json:"deleted"`
	AlreadyAbsent int    `json:"already_absent"`
	Failed        int    `json:"failed"`
	Unconfirmed   int    `json:"unconfirmed,omitempty"`
	Count         int    `json:"count"`
}

// ReceiptStep is one step's outcome.
type ReceiptStep struct {
	Step    string  `json:"step"`
	System  string  `json:"system"`
	Outcome Outcome `json:"outcome"`
	Count   int     `json:"count"`
	// Answer is the upstream's answer of an unconfirmed step: never counted
	// as deleted or absent; verification or a Resolution settles it.
	Answer string `json:"answer,omitempty"`
}

// Verification is the result of looking again after the deletions.
type Verification struct {
	Result string   `json:"result"` // "passed"
	Checks []string `json:"checks"`
}

// buildReceipt assembles the receipt of a finished request.
func buildReceipt(rec Record, plan Plan, done map[string]StepResult, joined []string, finished time.Time) Receipt {
	rc := Receipt{
		Version: ReceiptVersion, RequestID: rec.Request.ID, UserID: rec.Request.UserID, Subjects: plan.IDs,
		FiledBy: rec.Request.FiledBy, FiledAt: rec.Request.FiledAt, DueAt: Due(rec.Request.FiledAt, rec.Extension != nil),
		Extension: rec.Extension, StartedAt: rec.State.StartedAt, FinishedAt: finished.UTC(), JoinedBy: joined,
	}
	sums := map[string]*SystemSummary{}
	var order []string
	for _, s := range plan.Steps {
		r, ok := done[s.Key]
		if !ok {
			r = StepResult{Outcome: Failed}
		}
		rc.Steps = append(rc.Steps, ReceiptStep{Step: s.Key, System: s.System, Outcome: r.Outcome, Count: r.Count, Answer: r.Answer})
		sum := sums[s.System]
		if sum == nil {
			sum = &SystemSummary{System: s.System}
			sums[s.System] = sum
			order = append(order, s.System)
		}
		sum.Steps++
		sum.Count += r.Count
		switch r.Outcome {
		case Deleted:
			sum.Deleted++
		case AlreadyAbsent:
			sum.AlreadyAbsent++
		case Unconfirmed:
			sum.Unconfirmed++
		default:
			sum.Failed++
		}
	}
	for _, s := range order {
		rc.Systems = append(rc.Systems, *sums[s])
	}
	rc.Verification = Verification{Result: "passed", Checks: verificationChecks(rec.Request, plan)}
	rc.Resolutions = rec.Resolutions
	return rc
}

func verificationChecks(r Request, plan Plan) []string {
	var out []string
	for _, id := range plan.IDs {
		out = append(out, "artifi: no photos listed for "+id, "storage: nothing under "+skeys.UserPrefix(id))
	}
	for _, b := range r.Bigin {
		out = append(out, "bigin: no photo on "+b.Module+":"+b.RecordID)
	}
	if r.BPMUser != "" {
		out = append(out, "ibmbpm: avatar is the default")
	}
	if slices.ContainsFunc(plan.Steps, func(s Step) bool { return s.System == SystemOwn }) {
		out = append(out, "lifecycle: no queued, retried, scheduled, dead-lettered or completed task, dead-letter copy, quarantined object, manifest line or record keyed by an id names "+strings.Join(plan.IDs, ", "))
	}
	return out
}

// Sign returns rc as a signed document (SignDoc): every member of the
// receipt, whatever fields it gains, is covered by the signature.
//
// New receipts carry the Ed25519 signature alone, no HMAC: the HMAC proves
// nothing the signature does not, and anyone who holds the HMAC key (every
// verifier, before) could forge one, so a second, weaker proof beside the
// signature would only be the one a forger targets.
func Sign(rc Receipt, key ed25519.PrivateKey) ([]byte, error) {
	rc.HMAC = ""
	return SignDoc(rc, key)
}

// Verify checks a receipt's Ed25519 signature with the public key its key
// id names among keys, and returns the receipt. It needs no secret.
func Verify(doc []byte, keys PublicKeys) (Receipt, Signature, error) {
	return VerifyDoc[Receipt](doc, keys)
}

// HMACMember holds the HMAC-SHA256 of receipts written before they were
// signed with Ed25519.
const HMACMember = "hmac_sha256"

// IsLegacyHMAC reports whether doc looks like a receipt written before
// receipts were signed with Ed25519: an hmac_sha256 member and no
// signature. VerifyHMAC, not Verify, checks those.
func IsLegacyHMAC(doc []byte) bool {
	var head map[string]json.RawMessage
	if json.Unmarshal(doc, &head) != nil {
		return false
	}
	_, hm := head[HMACMember]
	_, sig := head[SignatureMember]
	return hm && !sig
}

// VerifyHMAC checks a receipt written before receipts were signed with
// Ed25519: its hmac_sha256 member is the HMAC-SHA256, under the old secret
// key, of its canonical form as json.Marshal wrote it then ('<', '>', '&'
// escaped as \u003c, \u003e, \u0026). The same strict reading as Verify's
// applies.
func VerifyHMAC(doc, key []byte) (Receipt, error) {
	rc, canon, raw, err := parseStrict[Receipt](doc, HMACMember, true)
	if err != nil {
		return Receipt{}, err
	}
	var got string
	if raw == nil || json.Unmarshal(raw, &got) != nil || got == "" {
		return Receipt{}, fmt.Errorf("%w: no %s member", ErrMalformed, HMACMember)
	}
	if !hmac.Equal([]byte(mac(canon, key)), []byte(got)) {
		return Receipt{}, ErrTampered
	}
	return rc, nil
}

// duplicateMember finds the first object member given twice in doc, at any
// depth. A doc that is not JSON has none: the decoder reports that.
func duplicateMember(doc []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	name, err := dupIn(dec, 0)
	return name, err == nil && name != ""
}

// dupIn reads one value, returning the first member name given twice in it.
func dupIn(dec *json.Decoder, depth int) (string, error) {
	if depth > 64 {
		return "", errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			name, _ := k.(string)
			if seen[name] {
				return name, nil
			}
			seen[name] = true
			if d, err := dupIn(dec, depth+1); d != "" || err != nil {
				return d, err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if d, err := dupIn(dec, depth+1); d != "" || err != nil {
				return d, err
			}
		}
	default:
		return "", nil
	}
	_, err = dec.Token() // the closing delimiter
	return "", err
}

func mac(b, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// finish tombstones the ids, writes the receipt and marks the request done.
// Each part is idempotent, so a crash anywhere in it is resumed by running it
// again.
func (e *Executor) finish(ctx context.Context, r Request, plan Plan, st State) error {
	now := e.now().UTC()
	if err := e.Tombstone(ctx, r.ID, now, plan.IDs...); err != nil {
		return err
	}
	rec, err := e.Store.Get(ctx, r.ID)
	if err != nil {
		return err
	}
	rec.State = st
	done, err := e.Store.finished(ctx, r.ID)
	if err != nil {
		return err
	}
	rc := buildReceipt(rec, plan, done, rec.Joined, now)
	doc, err := Sign(rc, e.ReceiptKey)
	if err != nil {
		return err
	}
	if err := e.Objects.Put(ctx, skeys.Receipt(r.ID), bytes.NewReader(doc), int64(len(doc))); err != nil {
		return fmt.Errorf("erasure %s: write receipt: %w", r.ID, err)
	}
	// A request that joined this one gets a receipt of its own: the same
	// erasure, under its reference.
	for _, j := range rec.Joined {
		jr, err := e.Store.Get(ctx, j)
		if err != nil {
			return err
		}
		jrc := rc
		jrc.RequestID, jrc.FiledBy, jrc.FiledAt, jrc.JoinedBy, jrc.JoinedTo = j, jr.Request.FiledBy, jr.Request.FiledAt, nil, r.ID
		jrc.DueAt, jrc.Extension = Due(jr.Request.FiledAt, jr.Extension != nil), jr.Extension
		jdoc, err := Sign(jrc, e.ReceiptKey)
		if err != nil {
			return err
		}
		if err := e.Objects.Put(ctx, skeys.Receipt(j), bytes.NewReader(jdoc), int64(len(jdoc))); err != nil {
			return fmt.Errorf("erasure %s: write receipt of joined %s: %w", r.ID, j, err)
		}
	}
	// Before done, so that a crash in between repeats the finish, and with
	// it this enqueue (deduplicated), instead of losing the re-audit.
	if e.ScheduleAudit != nil {
		if err := e.ScheduleAudit(ctx, r.ID, now); err != nil {
			return fmt.Errorf("erasure %s: schedule re-audit: %w", r.ID, err)
		}
	}
	st.Status, st.FinishedAt, st.Failing, st.Remains = StatusDone, now, nil, nil
	if err := e.Store.SetState(ctx, r.ID, st); err != nil {
		return err
	}
	if err := e.Store.close(ctx, r, rec.Joined); err != nil {
		return err
	}
	// The tombstones now refuse merges into or out of these ids for good.
	if err := e.unfence(ctx, r, plan); err != nil {
		return err
	}
	e.Log.Info().Ctx(ctx).Str("request_id", r.ID).Int("steps", len(plan.Steps)).Str("receipt", skeys.Receipt(r.ID)).Msg("erasure done")
	return nil
}
