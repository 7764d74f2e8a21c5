package basket

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/replication"
	"github.com/basketassist/basketassist/secrets"
)

// Store keeps basket state in Redis. Every key of one basket shares the hash
// tag {storefront:basket_id}, so each script touches a single cluster slot.
//
// Keys, under the configured prefix (default "ba:"):
//
//	{sf:id}:state       string: version, last activity, status, highest step sent,
//	                    whether a reminder is wanted, has_email, consent, the ids of
//	                    the last applied events, the sealed customer and the
//	                    contents (state.go; before 2026-12 a hash :basket, a string
//	                    :data and markers :evt:<id>, still read)
//	{sf:id}:step:<n>    claim of reminder step n: claimed:<attempt>, handing_over:<attempt>,
//	                    or an outcome: sent|suppressed|bounced|failed|in_doubt
//	subject:{<recipient>} hash "sf:id" → "1": the baskets that carried this
//	                    person's address (before 2026-12 the set subj:{<recipient>}, still read)
//	{sf:id}:dec         list: the decision record, the last RecordLimit decisions (JSON)
//	sent:<send key>     hash sf, b, r (recipient hash): the record a late bounce
//	                    maps back to, written at hand-over (see SendKey)
//	hist:{<recipient>}  sorted set "sf|<send key>s<step>" by hand-over time (unix ms):
//	                    the recipient's recent emails, for policy.frequency_cap
//	                    (hist:{<recipient>}:dry for policy.dry_run's would-sends)
//	ord:{<recipient>}   hash storefront → time of the recipient's last order (unix ms)
type Store struct {
	rdb  redis.UniversalClient
	keys *secrets.Keys
	opts StoreOptions
}

// StoreOptions configures a Store. Zero durations fall back to the defaults noted.
type StoreOptions struct {
	Prefix string // key prefix; "" means none
	// Steps are the reminder steps' delays after the basket's last
	// activity: a step's reminder joins the due index at that time.
	Steps []time.Duration
	// BasketTTL is how long a basket lives after its last activity (default 30 days).
	BasketTTL time.Duration
	// ClaimTTL is how long a step claim is remembered (DefaultClaimTTL).
	ClaimTTL time.Duration
	// Replication is how many Redis replicas must have a hand-over before
	// the email is handed to SMTP; the zero value waits for none.
	Replication replication.Wait
	// HandOverLife is how long after its hand-over an attempt may still be
	// at work: waiting for the final dot's reply, then writing how the
	// send ended or freeing the step (see worker.HandOverLife). A claim
	// that finds a hand-over younger than this answers *ErrHandingOver
	// instead of in_doubt. Zero: in doubt at once.
	HandOverLife time.Duration
}

// Status is where a basket stands.
type Status string

// Basket statuses. Purchased is final; a cleared basket becomes active again
// if a newer update arrives.
const (
	Active    Status = "active"
	Checkout  Status = "checkout"
	Purchased Status = "purchased"
	Emptied   Status = "cleared"
)

// DefaultClaimTTL is StoreOptions.ClaimTTL's default
// (retention.idempotency's, 30 days).
const DefaultClaimTTL = 30 * 24 * time.Hour

// NewStore returns a Store using rdb for state and keys for sealing.
func NewStore(rdb redis.UniversalClient, keys *secrets.Keys, opts StoreOptions) *Store {
	if opts.BasketTTL <= 0 {
		opts.BasketTTL = 30 * 24 * time.Hour
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = DefaultClaimTTL
	}
	return &Store{rdb: rdb, keys: keys, opts: opts}
}

func (s *Store) subjectKey(recipient string) string {
	return s.opts.Prefix + "subject:{" + recipient + "}"
}

// legacySubjectKey is the person's index as a set, before 2026-12: still
// read and erased until it expires.
func (s *Store) legacySubjectKey(recipient string) string {
	return s.opts.Prefix + "subj:{" + recipient + "}"
}

func (s *Store) claimKey(storefront, basketID string, step int) string {
	return s.tag(storefront, basketID) + ":step:" + strconv.Itoa(step)
}

// SendKey names a basket's sends without naming the basket: 24 hex digits
// of SHA-256 over (storefront, basket id). It is in every reminder's
// Message-ID and return path, and keys the record a late bounce looks up.
func SendKey(storefront, basketID string) string {
	sum := sha256.Sum256([]byte(storefront + "\x00" + basketID))
	return hex.EncodeToString(sum[:12])
}

func (s *Store) sentKey(sendKey string) string { return s.opts.Prefix + "sent:" + sendKey }

// Send is what the send record says of a send: whose basket, to whom.
type Send struct {
	Storefront string
	BasketID   string
	Recipient  string // the recipient hash
}

// SentTo looks up the send record that the hand-over wrote for sendKey,
// and the recipient of its step: a basket's customer may change between
// steps. A record that expired or never existed gives ok false; one
// written until 2026-12 names only the latest step's recipient.
func (s *Store) SentTo(ctx context.Context, sendKey string, step int) (Send, bool, error) {
	v, err := s.rdb.HMGet(ctx, s.sentKey(sendKey), "sf", "b", "r"+strconv.Itoa(step), "r").Result()
	if err != nil {
		return Send{}, false, fmt.Errorf("read send record: %w", err)
	}
	field := func(i int) string { f, _ := v[i].(string); return f }
	rcpt := field(2)
	if rcpt == "" {
		rcpt = field(3)
	}
	if rcpt == "" {
		return Send{}, false, nil
	}
	return Send{Storefront: field(0), BasketID: field(1), Recipient: rcpt}, true, nil
}

//go:embed lua/softbounce.lua
var softBounceSrc string
var softBounceScript = redis.NewScript(softBounceSrc)

// FirstSoftBounce notes that a soft bounce of step's send was counted, and
// reports whether it is the first: a report delivered twice, or one DSN
// with a block for each of several expansions of an address, is one
// failed email, so it counts towards bounces.soft_limit once. The note
// lives in the send record and expires with it; a record that is gone
// gets none, and its bounce does not count (softbounce.lua).
func (s *Store) FirstSoftBounce(ctx context.Context, sendKey string, step int) (bool, error) {
	first, err := softBounceScript.Run(ctx, s.rdb, []string{s.sentKey(sendKey)}, "soft"+strconv.Itoa(step)).Int()
	if err != nil {
		return false, fmt.Errorf("note soft bounce: %w", err)
	}
	return first == 1, nil
}

// TaskPrefix is the stem of reminder task ids for a basket. A task id is
// "<stem>:s<step>:v<version>", e.g. "remind:pink:b_42:s1:v3": readable in
// asynqmon and free of personal data.
func TaskPrefix(storefront, basketID string) string {
	return "remind:" + storefront + ":" + basketID
}

// TaskID is the reminder task id of step of basket version; the Lua
// scripts build the same from TaskPrefix.
func TaskID(storefront, basketID string, step int, version int64) string {
	return TaskPrefix(storefront, basketID) + ":s" + strconv.Itoa(step) + ":v" + strconv.FormatInt(version, 10)
}

// Outcome says what Apply did with an event.
type Outcome string

// Apply outcomes.
const (
	Applied   Outcome = "applied"
	Duplicate Outcome = "duplicate" // the event id was seen before
	Ignored   Outcome = "ignored"   // older than the state, or the basket was purchased
)

// ApplyResult is the result of Apply.
type ApplyResult struct {
	Outcome      Outcome
	Version      int64
	LastActivity time.Time
	Status       Status
	// Sent is the highest reminder step already sent (0 for none).
	Sent int
	// OldTask is the reminder task id that is no longer wanted ("" for none).
	OldTask string
	// OldWaiting says OldTask was still in the due index and left it; when
	// false it may be in the queue already (due, or deferred), for the
	// caller to delete there.
	OldWaiting bool
	// Task is the reminder task id the state wants now ("" for none); it
	// is in the due index (for a Duplicate, since the first application).
	Task string
}

//go:embed lua/apply.lua
var applySrc string
var applyScript = redis.NewScript(stateSrc + applySrc)

// Apply records e in the basket's state in one atomic step: deduplicate the
// event id, refuse stale events, update version, status, customer and
// contents, and name the reminder task the new state wants.
func (s *Store) Apply(ctx context.Context, e Sealed) (ApplyResult, error) {
	res, err := s.ApplyMany(ctx, []Sealed{e})
	if err != nil {
		return ApplyResult{}, err
	}
	return res[0], nil
}

// ApplyMany applies events in order, all in one pipelined round trip:
// each is Apply's script, atomic on its own. After an error some may have
// been applied; applying them again is safe (their ids are remembered).
func (s *Store) ApplyMany(ctx context.Context, events []Sealed) ([]ApplyResult, error) {
	type call struct {
		keys []string
		args []any
	}
	calls := make([]call, len(events))
	for i, e := range events {
		var contents []byte
		if e.Basket != nil {
			var err error
			if contents, err = encodeContents(e.Basket); err != nil {
				return nil, fmt.Errorf("encode basket %s: %w", e.BasketID, err)
			}
		}
		if e.Type == Cleared {
			contents = []byte("{}")
		}
		calls[i] = call{keys: []string{s.stateKey(e.Storefront, e.BasketID), s.legacyEventKey(e.Storefront, e.BasketID, e.ID),
			s.recordKey(e.Storefront, e.BasketID), s.dueKey(), s.legacyStateKey(e.Storefront, e.BasketID),
			s.legacyDataKey(e.Storefront, e.BasketID)},
			args: append([]any{
				string(e.Type), e.OccurredAt.UnixMilli(), e.Customer, flag(e.HasEmail), consentFlag(e), contents,
				seconds(s.opts.BasketTTL), e.ID, len(s.opts.Steps), TaskPrefix(e.Storefront, e.BasketID),
			}, s.stepDelays()...)}
	}
	// With replicas asked for, the pipeline ends in WAIT: the events task
	// is acknowledged only once the state it wrote would survive a
	// failover, else it runs again (applied events are recognised by id).
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(events))
		err := s.opts.Replication.Pipelined(ctx, s.rdb, func(pipe redis.Pipeliner) {
			for i, e := range events {
				cmds[i] = applyScript.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
				// The person's index lives in another slot, so it cannot join
				// the script; it rides in the same pipeline instead.
				if e.Recipient != "" {
					subj := s.subjectKey(e.Recipient)
					pipe.HSet(ctx, subj, e.Storefront+":"+e.BasketID, "1")
					pipe.Expire(ctx, subj, s.opts.BasketTTL)
				}
			}
		})
		return cmds, err
	}
	cmds, err := run()
	if len(cmds) > 0 && redis.HasErrorPrefix(cmds[0].Err(), "NOSCRIPT") {
		// First use on this server: nothing ran. Load the script, go again.
		if err := applyScript.Load(ctx, s.rdb).Err(); err != nil {
			return nil, fmt.Errorf("load the apply script: %w", err)
		}
		cmds, err = run()
	}
	out := make([]ApplyResult, len(events))
	for i, cmd := range cmds {
		e := events[i]
		res, cerr := cmd.Slice()
		if cerr != nil {
			return nil, fmt.Errorf("apply event %s to basket %s: %w", e.ID, e.BasketID, cerr)
		}
		if len(res) != 8 {
			return nil, fmt.Errorf("apply event %s: unexpected script reply %v", e.ID, res)
		}
		out[i] = ApplyResult{
			Outcome:      Outcome(str(res[0])),
			Version:      num(res[1]),
			LastActivity: time.UnixMilli(num(res[2])).UTC(),
			Status:       Status(str(res[3])),
			Sent:         int(num(res[4])),
			OldTask:      str(res[5]),
			Task:         str(res[6]),
			OldWaiting:   num(res[7]) == 1,
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("apply %d events: %w", len(events), err)
	}
	return out, nil
}

// Basket is a basket's state as loaded for sending.
type Basket struct {
	Storefront   string
	ID           string
	Version      int64
	LastActivity time.Time
	Customer     *Customer
	Contents     Contents
}

// ErrDropped wraps the reason a reminder is not to be sent, as the claim
// and hand-over scripts found it. Field is the suppression field that
// blocked it, for policy.Suppressed from HandOver.
type ErrDropped struct {
	Reason policy.Reason
	Field  string
}

func (e *ErrDropped) Error() string { return "basket: reminder dropped: " + string(e.Reason) }

// ErrHandingOver is Claim's answer when another attempt handed the step
// over less than StoreOptions.HandOverLife ago: it may be sending the
// email, or, having sent nothing, about to free the step. Nothing was
// written; ask again after Wait, when the claim says how it ended (or,
// still handed over, is in doubt).
type ErrHandingOver struct{ Wait time.Duration }

func (e *ErrHandingOver) Error() string {
	return "basket: another attempt is handing the step over; ask again in " + e.Wait.String()
}

//go:embed lua/claim.lua
var claimSrc string
var claimScript = redis.NewScript(stateSrc + claimSrc)

// Claim checks, at send time, that step of basket version is still wanted
// and claims it for attempt (a unique id per try), atomically. It returns
// *ErrDropped when the reminder must not go out (see the Drop reasons, and
// "already_<outcome>" when the step was handled before). A claim left by an
// attempt that died before its hand-over is taken over: that attempt
// delivered nothing. One left at the hand-over is recorded in_doubt once
// it is older than StoreOptions.HandOverLife (*ErrHandingOver until then).
func (s *Store) Claim(ctx context.Context, storefront, basketID string, version int64, step int, attempt string) (Basket, error) {
	b, errs := s.ClaimMany(ctx, []ClaimRequest{{Storefront: storefront, BasketID: basketID, Version: version, Step: step, Attempt: attempt}})
	return b[0], errs[0]
}

// ClaimRequest names one attempt at one step of one basket version.
type ClaimRequest struct {
	Storefront, BasketID string
	Version              int64
	Step                 int
	Attempt              string
}

// ClaimMany claims each of reqs as Claim does, in one pipelined round
// trip; each claim is atomic on its own and has its own result and error.
func (s *Store) ClaimMany(ctx context.Context, reqs []ClaimRequest) ([]Basket, []error) {
	baskets, errs := make([]Basket, len(reqs)), make([]error, len(reqs))
	run := func() []*redis.Cmd {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(reqs))
		for i, r := range reqs {
			keys := []string{s.stateKey(r.Storefront, r.BasketID), s.claimKey(r.Storefront, r.BasketID, r.Step),
				s.legacyStateKey(r.Storefront, r.BasketID), s.legacyDataKey(r.Storefront, r.BasketID)}
			cmds[i] = claimScript.EvalSha(ctx, pipe, keys, r.Version, seconds(s.opts.ClaimTTL), r.Attempt, s.opts.HandOverLife.Milliseconds())
		}
		_, _ = pipe.Exec(ctx) // each claim reports its own error
		return cmds
	}
	cmds := run()
	if len(cmds) > 0 && redis.HasErrorPrefix(cmds[0].Err(), "NOSCRIPT") {
		// First use on this server: nothing ran. Load the script, go again.
		if err := claimScript.Load(ctx, s.rdb).Err(); err == nil {
			cmds = run()
		}
	}
	for i, cmd := range cmds {
		baskets[i], errs[i] = s.claimed(reqs[i], cmd)
	}
	return baskets, errs
}

// claimed reads one claim script's reply.
func (s *Store) claimed(r ClaimRequest, cmd *redis.Cmd) (Basket, error) {
	res, err := cmd.Slice()
	if err != nil {
		return Basket{}, fmt.Errorf("claim step %d of basket %s: %w", r.Step, r.BasketID, err)
	}
	switch str(res[0]) {
	case "drop":
		return Basket{}, &ErrDropped{Reason: policy.Reason(str(res[1]))}
	case "wait":
		return Basket{}, &ErrHandingOver{Wait: time.Duration(num(res[1])) * time.Millisecond}
	}
	b := Basket{Storefront: r.Storefront, ID: r.BasketID, Version: r.Version, LastActivity: time.UnixMilli(num(res[3])).UTC()}
	if b.Customer, err = openCustomer(s.keys, r.Storefront, r.BasketID, []byte(str(res[1]))); err != nil {
		return Basket{}, err
	}
	if c := str(res[2]); c != "" {
		if err := decodeContents([]byte(c), &b.Contents); err != nil {
			return Basket{}, fmt.Errorf("decode contents of basket %s: %w", r.BasketID, err)
		}
	}
	return b, nil
}

//go:embed lua/handover.lua
var handOverSrc string
var handOverScript = redis.NewScript(stateSrc + handOverSrc)

// Suppression names the recipient's suppression hash and the fields that
// block this email (see suppression.Store.Blocking), and the recipient's
// hash, which the hand-over records with the send so that a bounce arriving
// days later finds whom to suppress.
type Suppression struct {
	Key       string
	Fields    []string
	Recipient string
}

// HandOver is the last word before a claimed step is handed to SMTP: in one
// script it re-checks the basket (status, version, consent) and sup, and
// only if the email is still wanted moves the claim from claimed:<attempt>
// to handing_over:<attempt>. Otherwise it returns *ErrDropped and records
// the outcome (a suppressed step ends; for any other reason the claim is
// freed). Anything acknowledged before it ran is therefore honoured.
//
// The suppression hash lives in the recipient's slot, not the basket's: on
// Redis Cluster this script would need both in one slot (see README,
// "Growing past one machine").
func (s *Store) HandOver(ctx context.Context, storefront, basketID string, version int64, step int, attempt string, sup Suppression, pace Pace) error {
	keys := []string{s.stateKey(storefront, basketID), s.claimKey(storefront, basketID, step), sup.Key,
		s.sentKey(SendKey(storefront, basketID)), s.historyKey(sup.Recipient, false), s.orderKey(sup.Recipient),
		s.legacyStateKey(storefront, basketID), s.legacyDataKey(storefront, basketID)}
	args := make([]any, 0, 13+len(sup.Fields))
	args = append(args, version, attempt, seconds(s.opts.ClaimTTL), storefront, basketID, sup.Recipient,
		pace.Max, pace.Now.Add(-pace.Per).UnixMilli(), pace.Now.UnixMilli(), historyMember(storefront, basketID, step),
		pace.Now.Add(-pace.Keep).UnixMilli(), max(pace.Keep, time.Second).Milliseconds(), step)
	for _, f := range sup.Fields {
		args = append(args, f)
	}
	// With replicas required, WAIT follows the script on its connection: a
	// hand-over a failover could forget would let a retry send again.
	cmd, err := s.opts.Replication.Script(ctx, s.rdb, handOverScript, keys, args...)
	res, cmdErr := cmd.Slice()
	if cmdErr != nil {
		return fmt.Errorf("hand over step %d of basket %s: %w", step, basketID, cmdErr)
	}
	if err != nil {
		// Not confirmed, whatever the script said: a drop it wrote (the
		// step suppressed, the claim freed) may be lost in a failover as
		// well, with the task acknowledged, leaving a claim nobody ends.
		// The retry decides again.
		return fmt.Errorf("hand over step %d of basket %s: %w", step, basketID, err)
	}
	if str(res[0]) == "drop" {
		d := &ErrDropped{Reason: policy.Reason(str(res[1]))}
		if len(res) > 2 {
			d.Field = str(res[2])
		}
		return d
	}
	return nil
}

//go:embed lua/release.lua
var releaseSrc string
var releaseScript = redis.NewScript(releaseSrc)

// Release frees attempt's claim after a failure that certainly delivered
// nothing (a refusal, a connection lost before the final dot), so a retry
// can claim again. A claim that is no longer attempt's is left alone.
// recipient (its hash, "" if unknown) is whose history a hand-over counted
// the email in: released after the hand-over, the email is taken back out.
func (s *Store) Release(ctx context.Context, storefront, basketID string, step int, attempt, recipient string) error {
	member := ""
	if recipient != "" {
		member = historyMember(storefront, basketID, step)
	}
	keys := []string{s.claimKey(storefront, basketID, step), s.historyKey(recipient, false)}
	// Confirmed by the replicas asked for, like the hand-over it may undo:
	// a release lost in a failover would leave a hand-over that never sent
	// for the retry to drop as in doubt.
	cmd, err := s.opts.Replication.Script(ctx, s.rdb, releaseScript, keys, attempt, member)
	if err == nil {
		err = cmd.Err()
	}
	if err != nil {
		return fmt.Errorf("release step %d of basket %s: %w", step, basketID, err)
	}
	return nil
}

// Step outcomes recorded by Finish.
const (
	Sent       = "sent"
	WouldSend  = "would_send" // policy.dry_run: moves the sequence on like Sent
	Suppressed = "suppressed"
	Bounced    = "bounced"
	Failed     = "failed"
	InDoubt    = "in_doubt"
	Dropped    = "dropped" // the policy said no (policy.Drop)
)

// FinishResult names the next reminder, which finish.lua put in the due
// index, if any.
type FinishResult struct {
	// Task is the next reminder task id ("" when the sequence is over).
	Task         string
	Version      int64
	Step         int
	LastActivity time.Time
	// OldTask is a task made obsolete by this step ("" for none); never the
	// finished step's own task, which is running.
	OldTask string
	// OldWaiting: as in ApplyResult.
	OldWaiting bool
}

//go:embed lua/finish.lua
var finishSrc string
var finishScript = redis.NewScript(stateSrc + finishSrc)

// Finish records how a claimed step ended, and rec (if not nil) in the
// basket's decision record in the same round trip. After Sent it names the next step
// to schedule, computed from the basket's current state (which newer activity
// may have changed while the email was in flight). Any other outcome ends the
// sequence for the claimed version.
func (s *Store) Finish(ctx context.Context, storefront, basketID string, version int64, step int, outcome string, rec *Decision) (FinishResult, error) {
	res, errs := s.FinishMany(ctx, []FinishRequest{{Storefront: storefront, BasketID: basketID, Version: version, Step: step, Outcome: outcome, Record: rec}})
	return res[0], errs[0]
}

// FinishRequest is how one claimed step ended, and its decision record
// entry (nil: none).
type FinishRequest struct {
	Storefront, BasketID string
	Version              int64
	Step                 int
	Outcome              string
	Record               *Decision
}

// FinishMany records each of reqs as Finish does, all in one pipelined
// round trip; each finish is atomic on its own and has its own result and
// error. A decision record entry is written by the same script, after its
// outcome, and is best effort, as always: never a reason to finish again.
func (s *Store) FinishMany(ctx context.Context, reqs []FinishRequest) ([]FinishResult, []error) {
	out, errs := make([]FinishResult, len(reqs)), make([]error, len(reqs))
	keysArgs := func(r FinishRequest) ([]string, []any) {
		var rec []byte // none
		if r.Record != nil {
			rec = encodeDecision(*r.Record)
		}
		return []string{s.stateKey(r.Storefront, r.BasketID), s.claimKey(r.Storefront, r.BasketID, r.Step), s.dueKey(),
				s.legacyStateKey(r.Storefront, r.BasketID), s.legacyDataKey(r.Storefront, r.BasketID), s.recordKey(r.Storefront, r.BasketID)},
			append([]any{r.Outcome, r.Version, r.Step, len(s.opts.Steps), TaskPrefix(r.Storefront, r.BasketID), rec, RecordLimit}, s.stepDelays()...)
	}
	// With replicas asked for, the pipeline ends in WAIT: an outcome lost in
	// a failover, its task acknowledged all the same, would leave a claim
	// nobody ends (and a sent step's next step never scheduled). Not
	// confirmed, every finish reports it, to be run again (persist).
	fins := make([]*redis.Cmd, len(reqs))
	waitErr := s.opts.Replication.Pipelined(ctx, s.rdb, func(pipe redis.Pipeliner) {
		for i, r := range reqs {
			keys, args := keysArgs(r)
			fins[i] = finishScript.EvalSha(ctx, pipe, keys, args...)
		}
	})
	if !errors.Is(waitErr, replication.ErrNotReplicated) && !errors.Is(waitErr, replication.ErrMoved) {
		waitErr = nil // each finish reports its own error
	}
	for i, r := range reqs {
		fin := fins[i]
		if redis.HasErrorPrefix(fin.Err(), "NOSCRIPT") {
			// First use on this server (or since a restart): nothing of
			// this finish ran. Run loads the script.
			keys, args := keysArgs(r)
			var werr error
			fin, werr = s.opts.Replication.Script(ctx, s.rdb, finishScript, keys, args...)
			if fin.Err() == nil && werr != nil {
				fin.SetErr(werr)
			}
		}
		res, err := fin.Slice()
		if err == nil {
			err = waitErr
		}
		if err != nil {
			errs[i] = fmt.Errorf("finish step %d of basket %s: %w", r.Step, r.BasketID, err)
			continue
		}
		out[i] = FinishResult{Task: str(res[0]), Version: num(res[1]), Step: int(num(res[2])),
			LastActivity: time.UnixMilli(num(res[3])).UTC(), OldTask: str(res[4]), OldWaiting: num(res[5]) == 1}
	}
	return out, errs
}

// consentFlag is the state's consent field: "1" given, "n" refused (never
// scheduled), "0" not stated (scheduled; the policy decides at send time).
func consentFlag(e Sealed) string {
	switch {
	case e.Consent:
		return "1"
	case e.Refused:
		return "n"
	}
	return "0"
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}
