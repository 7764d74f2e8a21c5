package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	netsmtp "net/smtp"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/bounce"
	"github.com/basketassist/basketassist/config"
	"github.com/basketassist/basketassist/mail"
	"github.com/basketassist/basketassist/policy"
	"github.com/basketassist/basketassist/worker"
)

// The shoppers the demo plays, in turn.
const (
	personaBuyer        = "buys"
	personaAbandoner    = "abandons"
	personaNoEmail      = "gives no email"
	personaNoConsent    = "gives no consent"
	personaUnsubscriber = "unsubscribes"
	personaReturner     = "comes back and buys"
	personaBouncer      = "has an address that bounces"
	personaComplainer   = "marks it as spam"
	personaSleeper      = "is asleep (night in their time zone)"
)

var personas = []string{personaBuyer, personaAbandoner, personaNoEmail, personaNoConsent, personaUnsubscriber, personaReturner,
	personaBouncer, personaComplainer, personaSleeper}

// demoZones are time zones around the world, for a shopper for whom it is
// day and one for whom it is night, whenever the demo runs.
var demoZones = []string{"Pacific/Kiritimati", "Pacific/Auckland", "Asia/Tokyo", "Asia/Bangkok", "Asia/Kolkata", "Asia/Dubai",
	"Europe/Moscow", "Europe/Berlin", "Europe/London", "Atlantic/Azores", "America/Sao_Paulo", "America/New_York",
	"America/Chicago", "America/Denver", "America/Los_Angeles", "Pacific/Honolulu", "Pacific/Pago_Pago"}

// dayAndNight picks a zone where the quiet hours are not near (day) and one
// where they are on for hours yet (night); night is "" when quiet hours are
// off.
func dayAndNight(h policy.Hours, now time.Time) (day, night string) {
	for _, z := range demoZones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			continue
		}
		_, quietNow := policy.QuietUntil(h, now, loc)
		_, quietSoon := policy.QuietUntil(h, now.Add(time.Minute), loc)
		until, quiet := policy.QuietUntil(h, now, loc)
		switch {
		case day == "" && !quietNow && !quietSoon:
			day = z
		case night == "" && quiet && until.Sub(now) > time.Hour:
			night = z
		}
	}
	if day == "" {
		day = "UTC"
	}
	return day, night
}

// demoBounceDomain receives the demo's bounces and complaints when no
// bounce domain is configured.
const demoBounceDomain = "bounces.shop.example"

// demoSteps compresses the reminder sequence so that a run ends within a
// minute: step n goes out 2 s + 5 s × (n-1) after the last activity.
func demoSteps(n int) []config.Step {
	steps := make([]config.Step, n)
	for i := range steps {
		steps[i] = config.Step{After: 2*time.Second + time.Duration(i)*5*time.Second}
	}
	return steps
}

// runDemo runs serve together with a storefront simulator, prints a summary
// that must reconcile, and then keeps the web UI up until ctx ends (or
// stops at once with --exit).
func runDemo(ctx context.Context, configPath string, args []string, stdout, stderr io.Writer) error {
	fs := commandFlags("demo", &configPath, stderr)
	baskets := fs.Int("baskets", 36, "number of simulated shoppers")
	exit := fs.Bool("exit", false, "stop after the summary instead of keeping the web UI up")
	listen := fs.String("listen", "", "override web.listen (e.g. 127.0.0.1:0)")
	if err := parseArgs(fs, args, stdout, 0, ""); err != nil {
		return err
	}
	if *baskets < 1 || *baskets > 10000 {
		return fmt.Errorf("--baskets: must be 1-10000, got %d", *baskets)
	}
	cfg, err := config.LoadValid(configPath)
	if err != nil {
		return err
	}
	did := applyDevDefaults(&cfg, configPath)
	if *listen != "" {
		cfg.Web.Listen = *listen
	}
	if did.tour {
		cfg.Web.OpsListen = cfg.Web.Listen // one port: the demo's URLs are all on it
	}
	if cfg.Redis.Real() {
		release, err := claimEmptyRedis(ctx, cfg.Redis)
		if err != nil {
			return err
		}
		defer release()
	}
	steps := len(cfg.Reminders.Steps)
	cfg.Reminders.Steps = demoSteps(steps)
	cfg.Worker.PollInterval = 200 * time.Millisecond
	cfg.Worker.RetryBase = 500 * time.Millisecond
	if cfg.Bounces.Listen == "" { // the complaining shopper's mailbox provider reports through it
		cfg.Bounces.Listen = "127.0.0.1:0"
	}
	if len(cfg.BounceDomains()) == 0 {
		cfg.Bounces.Domain = demoBounceDomain
	}
	if configPath == "" {
		// The demo shows quiet hours whenever it runs: it gives every
		// shopper a time zone where it is day, but the sleepers.
		cfg.Policy.QuietHours = policy.Default().QuietHours
	}
	// The frequency cap is compressed like the steps, so that step 2 may
	// follow step 1; quiet hours stay as configured.
	cfg.Policy.FrequencyCap.Per = min(cfg.Policy.FrequencyCap.Per, 3*time.Second)
	for i := range cfg.Storefronts {
		if c := cfg.Storefronts[i].Policy.FrequencyCap; c != nil {
			c.Per = min(c.Per, 3*time.Second)
		}
	}
	ln, err := net.Listen("tcp", cfg.Web.Listen)
	if err != nil {
		return fmt.Errorf("web.listen: %w", err)
	}
	// The shoppers and the links in their emails reach this process, never
	// a configured public URL (a live deployment's).
	cfg.Web.PublicURL = "http://" + ln.Addr().String()
	sf := cfg.Storefronts[0]
	printDevBanner(stderr, cfg, did)

	rec := &recordingSender{sent: make(chan *mail.Message, 1024), refuse: map[string]bool{}}
	m := &Main{Config: cfg, Worker: true, Web: true, Demo: true, Listener: ln,
		Logger:     newLogger(config.Log{Level: "warn", Format: cfg.Log.Format}, stderr),
		WrapSender: func(s worker.Sender) worker.Sender { rec.next = s; return rec }}
	if err := m.Run(ctx); err != nil {
		return err
	}
	defer m.Close()

	sim := newSimulator(cfg, sf, *baskets, steps)
	sim.bounceTo = m.BounceAddr.String()
	for _, sh := range sim.shoppers {
		rec.refuse[sh.email] = sh.persona == personaBouncer
	}
	fmt.Fprintf(stdout, "demo: %d shoppers at %q; reminders after %v (compressed for the demo)\n", *baskets, sf.Name, stepList(cfg.Reminders.Steps))
	res, err := sim.run(ctx, rec, m, stdout)
	if err != nil {
		return err
	}
	res.print(stdout)
	if !res.reconciles {
		return errors.New("demo: the numbers do not reconcile (see above)")
	}
	if *exit {
		return nil
	}
	ops := "http://" + m.OpsAddr.String()
	password := "web.admin_token"
	if did.adminToken {
		password = cfg.Web.AdminToken // made up for this run
	}
	fmt.Fprintln(stdout, "\nThe web UI stays up until Ctrl-C:")
	if cfg.SMTP.Host == "" {
		fmt.Fprintf(stdout, "  outbox      %s/outbox\n", ops)
	}
	fmt.Fprintf(stdout, "  asynqmon    %s/monitoring/   (user: any, password: %s)\n  metrics     %s/metrics\n", ops, password, ops)
	<-ctx.Done()
	return nil
}

// claimEmptyRedis refuses a configured Redis database that holds anything:
// the demo writes fake shoppers, their suppressions and reminders, and
// would send a live database's due reminders with its own. It returns a
// release that erases the database when the demo ends, so that the next
// demo finds it empty again.
func claimEmptyRedis(ctx context.Context, r config.Redis) (release func(), err error) {
	rdb := newRedisClient(r)
	n, err := rdb.DBSize(ctx).Result()
	if err != nil {
		_ = rdb.Close()
		return nil, unreachable(r, err)
	}
	if n > 0 {
		_ = rdb.Close()
		return nil, fmt.Errorf("demo: redis.db %d at %s holds %s; the demo writes fake shoppers, suppressions and reminders, "+
			"so it needs an empty database: set redis.db (BASKETASSIST_REDIS_DB) to an unused one, or empty this one (redis-cli -n %d flushdb)",
			r.DB, r.Where(), count(int(n), "key", "keys"), r.DB)
	}
	return func() {
		_ = rdb.FlushDB(context.WithoutCancel(ctx)).Err()
		_ = rdb.Close()
	}, nil
}

func stepList(steps []config.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.After.String())
	}
	return out
}

// recordingSender passes each email on and tells the simulator about it.
// For the addresses in refuse it plays a receiving server that takes the
// message and then refuses it after DATA with 550 5.1.1, as many do.
type recordingSender struct {
	next   worker.Sender
	sent   chan *mail.Message
	refuse map[string]bool // written before the run, read-only after
}

func (r *recordingSender) Send(ctx context.Context, m *mail.Message, handOver mail.HandOver) error {
	if r.refuse[m.To.Address] {
		if err := handOver(ctx); err != nil { // as the SMTP sender does before the final dot
			return err
		}
		return mail.Refused(mail.StageDot, 550, "5.1.1")
	}
	if err := r.next.Send(ctx, m, handOver); err != nil {
		return err
	}
	r.sent <- m
	return nil
}

type shopper struct {
	n       int
	persona string
	email   string
	basket  string
	emails  chan *mail.Message // this shopper's reminders, as sent
}

type simulator struct {
	runID    string // unique per run, so a run against a real Redis never meets an earlier run's data
	cfg      config.Config
	sf       config.Storefront
	client   *basket.Client
	http     *http.Client
	shoppers []*shopper
	byEmail  map[string]*shopper
	steps    int
	events   atomic.Int64
	seq      atomic.Int64
	day      string // customer.timezone of every shopper but the sleepers
	night    string // the sleepers' ("" when quiet hours are off: they shop by day)
	unsubs   atomic.Int64
	returns  atomic.Int64
	spam     atomic.Int64
	bounceTo string // where the complaint is delivered (the bounce listener)
}

func newSimulator(cfg config.Config, sf config.Storefront, n, steps int) *simulator {
	s := &simulator{runID: strconv.FormatInt(time.Now().UnixNano()/1e6, 36), cfg: cfg, sf: sf, steps: steps, byEmail: map[string]*shopper{},
		client: &basket.Client{BaseURL: cfg.Web.PublicURL, APIKey: sf.APIKey},
		// The basket link points at the storefront: the demo reads the 302, it does not follow it off this machine.
		http: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	s.day, s.night = dayAndNight(cfg.PolicyFor(sf).QuietHours, time.Now())
	for i := range n {
		sh := &shopper{n: i, persona: personas[i%len(personas)], email: fmt.Sprintf("shopper%03d.%s@example.com", i, s.runID),
			basket: fmt.Sprintf("demo_%s_%03d", s.runID, i), emails: make(chan *mail.Message, steps+1)}
		s.shoppers = append(s.shoppers, sh)
		s.byEmail[sh.email] = sh
	}
	return s
}

func (s *simulator) event(sh *shopper, typ basket.Type, withCustomer, consent bool, qty int64) basket.Event {
	e := basket.Event{ID: "demo-" + s.runID + "-" + strconv.FormatInt(s.seq.Add(1), 10), Type: typ, Storefront: s.sf.ID,
		BasketID: sh.basket, OccurredAt: time.Now().UTC()}
	if withCustomer {
		zone := s.day
		if sh.persona == personaSleeper && s.night != "" {
			zone = s.night
		}
		e.Customer = &basket.Customer{Email: sh.email, Name: fmt.Sprintf("Shopper %d", sh.n), Locale: "en-GB",
			Timezone: zone, Consent: basket.Consent{BasketAssistance: consent, Stated: true}}
	}
	if typ == basket.Updated {
		e.Basket = &basket.Contents{Currency: "GBP", Items: []basket.Item{
			{SKU: "OX-1", Name: "Oxford shirt", Quantity: qty, UnitPrice: 8900},
			{SKU: "TIE-2", Name: "Silk tie", Quantity: 1, UnitPrice: 4500}}}
	}
	return e
}

func (s *simulator) send(ctx context.Context, events ...basket.Event) error {
	_, err := s.client.Send(ctx, events...)
	if err == nil {
		s.events.Add(int64(len(events)))
	}
	return err
}

// play runs one shopper's journey through the real ingest API.
func (s *simulator) play(ctx context.Context, sh *shopper) error {
	withEmail, consent := sh.persona != personaNoEmail, sh.persona != personaNoConsent
	// Browse: add an item, then change the quantity.
	if err := s.send(ctx, s.event(sh, basket.Updated, false, false, 1)); err != nil {
		return err
	}
	if err := s.send(ctx, s.event(sh, basket.Updated, withEmail, consent, 2)); err != nil {
		return err
	}
	switch sh.persona {
	case personaBuyer:
		return s.send(ctx, s.event(sh, basket.CheckoutStarted, true, true, 0), s.event(sh, basket.OrderCompleted, false, false, 0))
	case personaUnsubscriber, personaReturner, personaComplainer:
		var first *mail.Message
		select {
		case first = <-sh.emails:
		case <-ctx.Done():
			return ctx.Err()
		}
		if sh.persona == personaComplainer {
			if err := s.complain(first); err != nil {
				return fmt.Errorf("complaint through the bounce listener: %w", err)
			}
			s.spam.Add(1)
			return nil
		}
		if sh.persona == personaUnsubscriber {
			resp, err := s.http.Post(first.Unsubscribe, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("one-click unsubscribe answered %d", resp.StatusCode)
			}
			s.unsubs.Add(1)
			return nil
		}
		link := basketLink.FindString(first.Text)
		resp, err := s.http.Get(link)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			return fmt.Errorf("basket link answered %d", resp.StatusCode)
		}
		s.returns.Add(1)
		return s.send(ctx, s.event(sh, basket.OrderCompleted, false, false, 0))
	}
	return nil // abandoners, and shoppers without email or consent, just leave
}

// complain is the mailbox provider's feedback loop: the shopper pressed
// "spam", and the provider mails an ARF report (RFC 5965) with the
// message's headers to the bounce domain.
func (s *simulator) complain(m *mail.Message) error {
	domain := s.cfg.Bounces.Domain
	if s.sf.BounceDomain != "" {
		domain = s.sf.BounceDomain
	}
	report := strings.ReplaceAll(`From: fbl@mailbox.example
To: fbl@`+domain+`
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain

A recipient marked this message as spam.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: basketassist-demo/1
Version: 1

--arf
Content-Type: text/rfc822-headers

Message-ID: <`+m.MessageID+`>

--arf--
`, "\n", "\r\n")
	return netsmtp.SendMail(s.bounceTo, nil, "", []string{"fbl@" + domain}, []byte(report))
}

var basketLink = regexp.MustCompile(`https?://\S+/r/[A-Za-z0-9_-]+`)

// expected returns how many emails each step should send.
func (s *simulator) expected() []int {
	want := make([]int, s.steps)
	for _, sh := range s.shoppers {
		switch sh.persona {
		case personaAbandoner:
			for i := range want {
				want[i]++
			}
		case personaUnsubscriber, personaReturner, personaComplainer:
			want[0]++
		case personaSleeper:
			if s.night == "" { // no quiet hours: they are abandoners by day
				for i := range want {
					want[i]++
				}
			}
		}
	}
	return want
}

type demoResult struct {
	events, baskets, abandoned, eligible int
	sent, want                           []int
	duplicates                           int
	skipped                              map[string]int
	unsubscribes, ordersAfterReminder    int
	bounced, wantBounced, complaints     int
	deferred, wantDeferred               int
	nightZone                            string
	reconciles                           bool
	took                                 time.Duration
}

func (s *simulator) run(ctx context.Context, rec *recordingSender, m *Main, out io.Writer) (*demoResult, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	want := s.expected()
	wantDeferred := 0
	if s.night != "" {
		for _, sh := range s.shoppers {
			if sh.persona == personaSleeper {
				wantDeferred++
			}
		}
	}
	total := 0
	for _, w := range want {
		total += w
	}
	sent := make([]int, s.steps)
	seen := map[string]bool{}
	duplicates := 0
	var mu sync.Mutex
	done := make(chan struct{})
	keys := m.core.keys // the goroutine may outlive a failed run, and Close clears m.core
	go func() {         // route each sent email to its shopper
		defer close(done)
		for {
			select {
			case msg := <-rec.sent:
				_, step, _, _ := bounce.ParseMessageID(keys, msg.MessageID)
				mu.Lock()
				key := msg.To.Address + "/" + strconv.Itoa(step)
				if seen[key] {
					duplicates++
				}
				seen[key] = true
				if step >= 1 && step <= len(sent) {
					sent[step-1]++
				}
				mu.Unlock()
				if sh := s.byEmail[msg.To.Address]; sh != nil {
					select {
					case sh.emails <- msg:
					default:
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	errs := make(chan error, len(s.shoppers))
	var wg sync.WaitGroup
	for _, sh := range s.shoppers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.play(ctx, sh); err != nil {
				errs <- fmt.Errorf("shopper %d (%s): %w", sh.n, sh.persona, err)
			}
		}()
	}
	progress := newProgress(out)
	insp := asynq.NewInspectorFromRedisClient(m.core.rdb)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		mu.Lock()
		n := 0
		for _, c := range sent {
			n += c
		}
		mu.Unlock()
		progress.show(n, total, int(s.events.Load()))
		if n >= total && metricsByLabel(m, `basketassist_reminders_deferred_total{reason="`)["quiet_hours"] >= wantDeferred &&
			settledBut(ctx, m, wantDeferred) {
			break
		}
		select {
		case err := <-errs:
			return nil, err
		case <-ctx.Done():
			return nil, fmt.Errorf("demo: %d of %d emails within 2 minutes: %w", n, total, ctx.Err())
		case <-tick.C:
		}
	}
	wg.Wait()
	progress.finish()
	cancel()
	<-done

	r := &demoResult{events: int(s.events.Load()), baskets: len(s.shoppers), sent: sent, want: want, duplicates: duplicates,
		unsubscribes: int(s.unsubs.Load()), ordersAfterReminder: int(s.returns.Load()), took: time.Since(start)}
	for _, sh := range s.shoppers {
		if sh.persona != personaBuyer {
			r.abandoned++
			if sh.persona != personaNoEmail && sh.persona != personaNoConsent {
				r.eligible++
			}
		}
	}
	for _, sh := range s.shoppers {
		if sh.persona == personaBouncer {
			r.wantBounced++
		}
	}
	r.skipped = metricsByLabel(m, `basketassist_reminders_skipped_total{reason="`)
	r.bounced = metricsByLabel(m, `basketassist_reminders_total{outcome="`)["bounced"]
	r.complaints = int(s.spam.Load())
	r.deferred = metricsByLabel(m, `basketassist_reminders_deferred_total{reason="`)["quiet_hours"]
	r.wantDeferred, r.nightZone = wantDeferred, s.night
	if err := s.cancelSleepers(insp); err != nil {
		return nil, err
	}
	heard := metricsByLabel(m, `basketassist_bounce_reports_total{outcome="`)["complaint"]
	r.reconciles = duplicates == 0 && equalInts(sent, want) && r.bounced == r.wantBounced && heard == r.complaints &&
		r.deferred == r.wantDeferred &&
		r.skipped["suppressed"] == (r.unsubscribes+r.complaints)*(s.steps-1)
	return r, nil
}

// settledBut reports whether nothing but the sleepers' n deferred
// reminders is waiting or running.
func settledBut(ctx context.Context, m *Main, n int) bool {
	left, err := worker.Outstanding(ctx, m.core.rdb, m.core.cfg.Redis.Prefix)
	return err == nil && left == n
}

// cancelSleepers deletes the sleepers' deferred reminders once the summary
// is taken: a demo must not email anyone in the morning.
func (s *simulator) cancelSleepers(insp *asynq.Inspector) error {
	// A reminder deferred alone waits in asynq's retry set; one deferred
	// from a batch, as its own scheduled task.
	var tasks []*asynq.TaskInfo
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){insp.ListRetryTasks, insp.ListScheduledTasks} {
		some, err := list(worker.QueueEmail, asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			return fmt.Errorf("list deferred reminders: %w", err)
		}
		tasks = append(tasks, some...)
	}
	for _, t := range tasks {
		for _, sh := range s.shoppers {
			if sh.persona == personaSleeper && strings.HasPrefix(t.ID, basket.TaskPrefix(s.sf.ID, sh.basket)+":") {
				if err := insp.DeleteTask(worker.QueueEmail, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
					return fmt.Errorf("cancel a deferred demo reminder: %w", err)
				}
			}
		}
	}
	return nil
}

// metricsByLabel reads one counter, the same numbers an operator sees on
// /metrics: prefix is the counter's name and first label as /metrics
// prints them ('name{label="'), and the counts are summed by that label's
// value.
func metricsByLabel(m *Main, prefix string) map[string]int {
	name, label, _ := strings.Cut(strings.TrimSuffix(prefix, `="`), "{")
	out := map[string]int{}
	families, err := m.registry.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += int(metric.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (r *demoResult) print(w io.Writer) {
	fmt.Fprintf(w, "\nDemo summary (%s)\n", r.took.Round(100*time.Millisecond))
	row := func(name string, v any) { fmt.Fprintf(w, "  %-42s %6v\n", name, v) }
	row("events sent", r.events)
	row("baskets", r.baskets)
	row("abandoned", r.abandoned)
	row("  with an email and consent", r.eligible)
	for i := range r.sent {
		row(fmt.Sprintf("emails sent, step %d (expected %d)", i+1, r.want[i]), r.sent[i])
	}
	if len(r.skipped) == 0 {
		row("skipped", 0)
	}
	for reason, n := range r.skipped {
		row("skipped: "+reason, n)
	}
	row(fmt.Sprintf("bounced after DATA, 5.1.1 (expected %d)", r.wantBounced), r.bounced)
	row("spam complaints (feedback loop)", r.complaints)
	if r.nightZone != "" {
		row(fmt.Sprintf("deferred: quiet hours (expected %d)", r.wantDeferred), r.deferred)
		fmt.Fprintf(w, "    (the sleepers live in %s, where it is night)\n", r.nightZone)
	}
	row("unsubscribes (one-click)", r.unsubscribes)
	row("orders after a reminder", r.ordersAfterReminder)
	row("duplicate emails", r.duplicates)
	if r.reconciles {
		fmt.Fprintln(w, "  reconciles: yes — every abandoned basket with an email, consent and no suppression got each step exactly once;")
		fmt.Fprintln(w, "  the bounced address and the complainers are suppressed (hard_bounce, complaint) and got nothing more;")
		if r.nightZone != "" {
			fmt.Fprintln(w, "  the sleepers' reminders were deferred to their morning (and cancelled when the demo ended)")
		}
	} else {
		fmt.Fprintln(w, "  reconciles: NO")
	}
}

// progress draws a bar on a terminal and plain lines elsewhere.
type progress struct {
	w        io.Writer
	tty      bool
	lastLine time.Time
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && isTerminal(f)}
}

func (p *progress) show(sent, total, events int) {
	if p.tty {
		const width = 30
		filled := width
		if total > 0 {
			filled = width * min(sent, total) / total
		}
		fmt.Fprintf(p.w, "\r  [%s%s] %d/%d emails, %d events", strings.Repeat("#", filled), strings.Repeat("-", width-filled), sent, total, events)
		return
	}
	if time.Since(p.lastLine) >= 2*time.Second {
		fmt.Fprintf(p.w, "  progress: %d/%d emails, %d events\n", sent, total, events)
		p.lastLine = time.Now()
	}
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
