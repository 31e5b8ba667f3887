// Package config reads lifecycle's settings from flags and LIFECYCLE_*
// environment variables (flags win), validates them, and reports the first
// bad value as one line naming the flag or variable that holds it. Each
// command registers the groups of settings it reads on its own flag set.
//
// Secrets (keys, passwords, tokens) are of type Secret, which never prints
// its value, and can also come from files through a VAR_FILE variable, as
// container platforms mount them.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/spf13/pflag"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Defaults, applied when neither a flag nor a variable sets a value.
const (
	HTTPAddrDefault = "127.0.0.1:8080"
	// DevRedisAddrDefault is where `lifecycle dev` serves its embedded
	// Redis: a fixed port, so that an exported LIFECYCLE_REDIS_URL outlives
	// a restart (6379 is left to a real Redis).
	DevRedisAddrDefault    = "127.0.0.1:6390"
	LogLevelDefault        = "info"
	LogFormatDefault       = "json"
	ConcurrencyDefault     = 10
	ShutdownTimeoutDefault = 25 * time.Second // under Kubernetes' 30 s grace period
	UpstreamLimitDefault   = 8
	// TaskCheckIntervalDefault is how often an idle worker looks at its
	// empty queues: a task enqueued on an idle worker waits up to this long
	// (asynq's own default, 1 s, made checkout merges wait 0.6-0.9 s). The
	// looks cost Redis about 250 commands/s per idle worker with the four
	// queues, against 16 at 1 s (bench/README.md).
	TaskCheckIntervalDefault = 50 * time.Millisecond
)

// StorageDefault is ./.lifecycle/storage under the working directory, where
// `make run` keeps its files.
func StorageDefault() string {
	dir, err := os.Getwd()
	if err != nil {
		dir = os.TempDir()
	}
	return "file://" + filepath.ToSlash(filepath.Join(dir, ".lifecycle", "storage"))
}

// Secret is a credential. Its String and GoString hide the value so that a
// config struct can be logged or printed without leaking it.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
func (s Secret) GoString() string             { return s.String() }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Value returns the secret itself, for the one place that sends it upstream.
func (s Secret) Value() string { return string(s) }

// Config is every setting of every subcommand; each subcommand binds only the
// fields it uses.
type Config struct {
	RedisURL string // empty in dev: embedded Redis
	Redis    asynq.RedisConnOpt
	HTTPAddr string
	APIToken Secret
	// APITokens are the scoped tokens of LIFECYCLE_API_TOKENS_FILE.
	APITokens       []apitoken.Token
	Storage         string
	S3AccessKey     Secret
	S3SecretKey     Secret
	StorageTimeout  time.Duration // of each request to S3
	LogLevel        string
	LogFormat       string
	Concurrency     int
	Queues          map[string]int
	ShutdownTimeout time.Duration
	// ErasureSliceBudget is how long one erasure slice takes new steps
	// before the next task of the chain continues (erasure.SliceBudgetDefault).
	ErasureSliceBudget time.Duration
	// ErasureReauditAfter is how long after an erasure finishes it is
	// audited again (erasure.Executor.Audit).
	ErasureReauditAfter time.Duration
	// TaskCheckInterval is how often an idle worker polls its queues.
	TaskCheckInterval time.Duration
	ScheduleFile      string

	Artifi Artifi
	Bigin  Bigin
	BPM    BPM

	Sweep Sweep

	// ReceiptSigningKey signs erasure receipts (Ed25519, PEM PKCS #8, or
	// its base64 body), so that anyone with the public key can tell a
	// receipt altered after the fact.
	ReceiptSigningKey Secret
	// ReceiptKey is the HMAC-SHA256 key receipts were signed with before
	// Ed25519: kept only to verify those.
	ReceiptKey Secret

	DevRedisAddr string // `lifecycle dev`'s embedded Redis

	Privacy Privacy
}

// Privacy configures the privacy team's workflow: approvals, history,
// webhooks.
type Privacy struct {
	// ApprovalRequired: a filed erasure waits for a second identity.
	ApprovalRequired bool
	// HistoryRetention is how long finished erasures stay listed.
	HistoryRetention time.Duration
	// RefuseMergedID: an erasure of a guest id merged into a user fails
	// ("guest G is now user U: erase U") instead of ending needs_review.
	RefuseMergedID bool
	// WebhookURL receives signed notifications; empty sends none.
	WebhookURL    string
	WebhookSecret Secret
}

// HistoryRetentionDefault keeps finished erasures listed for three years,
// the usual limitation period.
const HistoryRetentionDefault = 3 * 365 * 24 * time.Hour

type Artifi struct {
	URL         string
	WebsiteID   int
	ClientKey   Secret
	Concurrency int
}

type Bigin struct {
	AccountsURL  string
	APIDomain    string
	DataCenter   string
	ClientID     string
	ClientSecret Secret
	RefreshToken Secret
	Concurrency  int
}

type BPM struct {
	URL         string
	Username    string
	Password    Secret
	Concurrency int
}

// Sweep configures orphaned-asset sweeps (internal/sweep).
type Sweep struct {
	GuestPrefix    string
	GuestRetention time.Duration
	Grace          time.Duration
	RestoreWindow  time.Duration
	MaxShare       float64
}

// Sweep defaults: internal/sweep's, so that the flags' help shows what a
// sweep does when nothing is set.
const (
	SweepGuestPrefixDefault    = sweep.GuestPrefixDefault
	SweepGuestRetentionDefault = sweep.GuestRetentionDefault
	SweepGraceDefault          = sweep.GraceDefault
	SweepRestoreWindowDefault  = sweep.RestoreWindowDefault
	SweepMaxShareDefault       = sweep.MaxShareDefault
)

// APITokenMinLen is the shortest API token accepted: 32 bytes, such as
// `openssl rand -hex 16` prints, cannot be guessed.
const APITokenMinLen = 32

// checkAPIToken refuses a token that would protect nothing: whitespace
// (LIFECYCLE_API_TOKEN=" " used to mean "no token") or too short to resist
// guessing. It never shows the token.
func checkAPIToken(v string) error {
	switch {
	case v == "":
		return nil
	case strings.ContainsFunc(v, unicode.IsSpace):
		return errors.New("must not contain whitespace (unset it for no token)")
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		return errors.New("must be printable text")
	case len(v) < APITokenMinLen:
		return fmt.Errorf("too short (%d bytes, want at least %d, such as openssl rand -hex 16 prints)", len(v), APITokenMinLen)
	}
	return nil
}

// Configured reports whether the worker may call Artifi.
func (a Artifi) Configured() bool { return a.URL != "" }

// Configured reports whether the worker may call Bigin.
func (b Bigin) Configured() bool { return b.ClientID != "" }

// Configured reports whether the worker may call IBM BPM.
func (b BPM) Configured() bool { return b.URL != "" }

// Error is a bad setting: Name is the flag (--x) or variable (LIFECYCLE_X)
// the value came from.
type Error struct {
	Name    string
	Problem string
}

func (e *Error) Error() string { return e.Name + ": " + e.Problem }

// setting binds one flag and its environment variable to a field.
type setting struct {
	flag   string
	env    string
	usage  string
	def    string
	secret bool // also read ENV_FILE
	// untrimmed: set sees the value with its surrounding whitespace, for a
	// setting where whitespace is an error rather than a typing accident.
	untrimmed bool
	set       func(c *Config, v string) error
}

// Group selects the settings a subcommand understands.
type Group int

const (
	GroupRedis Group = 1 << iota
	GroupHTTP
	GroupStorage
	GroupWorker
	GroupUpstream
	GroupSchedule
	GroupLog
	GroupSweep
	GroupErasure
	GroupDev
	GroupPrivacy
)

// Flags are the settings of some groups, bound to the flags of one command.
type Flags struct {
	fs       *pflag.FlagSet
	settings []setting
	raw      []*string // raw[i] is the flag value of settings[i]
}

// Register adds the flags of groups to fs, each with its variable named in
// its usage. Once fs has parsed the command line, Load reads them.
func Register(fs *pflag.FlagSet, groups Group) *Flags {
	f := &Flags{fs: fs}
	for _, g := range []Group{GroupRedis, GroupHTTP, GroupStorage, GroupWorker, GroupUpstream, GroupSchedule, GroupLog, GroupSweep, GroupErasure, GroupDev, GroupPrivacy} {
		if groups&g == 0 {
			continue
		}
		for _, s := range settings[g] {
			usage := s.usage + " (env " + s.env
			if s.secret {
				usage += ", or " + s.env + "_FILE"
			}
			usage += ")"
			v := new(string)
			fs.StringVar(v, s.flag, s.def, usage)
			f.settings = append(f.settings, s)
			f.raw = append(f.raw, v)
		}
	}
	return f
}

// Load reads the registered settings into a Config: a flag given on the
// command line wins over its variable, which wins over the default. The
// first bad value is an *Error naming where it came from.
func (f *Flags) Load(env func(string) string) (*Config, error) {
	c := &Config{}
	for i, s := range f.settings {
		raw, from := *f.raw[i], "--"+s.flag
		if !f.fs.Changed(s.flag) {
			if v, ok, err := fromEnv(s, env); err != nil {
				return nil, err
			} else if ok {
				raw, from = v, s.env
			}
		}
		if !s.untrimmed {
			raw = strings.TrimSpace(raw)
		}
		if err := s.set(c, raw); err != nil {
			return nil, &Error{Name: from, Problem: err.Error()}
		}
	}
	return c, nil
}

func fromEnv(s setting, env func(string) string) (string, bool, error) {
	if v := env(s.env); v != "" {
		return v, true, nil
	}
	if !s.secret {
		return "", false, nil
	}
	path := env(s.env + "_FILE")
	if path == "" {
		return "", false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The path is configuration, not a secret; the content is never shown.
		return "", false, &Error{Name: s.env + "_FILE", Problem: "cannot read secret file: " + errors.Unwrap(err).Error()}
	}
	return strings.TrimRight(string(b), "\r\n"), true, nil
}

var settings = map[Group][]setting{
	GroupRedis: {{
		flag: "redis-url", env: "LIFECYCLE_REDIS_URL",
		usage: "Redis to use: redis://[:password@]host:port[/db], rediss://..., or redis-sentinel://[:password@]host1:port1[,host2:port2]/?master=name",
		set: func(c *Config, v string) error {
			c.RedisURL = v
			if v == "" {
				return nil // checked by RequireRedis where a Redis is mandatory
			}
			opt, err := ParseRedisURL(v)
			c.Redis = opt
			return err
		},
	}},
	GroupHTTP: {{
		flag: "http-addr", env: "LIFECYCLE_HTTP_ADDR", def: HTTPAddrDefault,
		usage: "host:port the HTTP server (health, readiness, metrics) listens on",
		set: func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port, got %q", v)
			}
			c.HTTPAddr = v
			return nil
		},
	}, {
		flag: "api-token", env: "LIFECYCLE_API_TOKEN", secret: true, untrimmed: true,
		usage: fmt.Sprintf("bearer token the /v1 API (erasure requests) requires, at least %d bytes without whitespace; unset, /v1 answers only this machine", APITokenMinLen),
		set: func(c *Config, v string) error {
			if err := checkAPIToken(v); err != nil {
				return err
			}
			c.APIToken = Secret(v)
			return nil
		},
	}, {
		flag: "api-tokens-file", env: "LIFECYCLE_API_TOKENS_FILE",
		usage: "file of scoped /v1 tokens, one per line: name, scopes (merge,photo,erasure:file,erasure:approve,erasure:read,admin), sha256:hash of the secret (lifecycle token new prints a line)",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			t, err := apitoken.ReadFile(v)
			if err != nil {
				return err
			}
			c.APITokens = t
			return nil
		},
	}},
	GroupPrivacy: {{
		flag: "erasure-approval", env: "LIFECYCLE_ERASURE_APPROVAL", def: "none",
		usage: "required: a filed erasure waits (awaiting_approval) until an identity other than its filer approves it; none: it runs at once",
		set: func(c *Config, v string) error {
			switch v {
			case "required":
				c.Privacy.ApprovalRequired = true
			case "none":
			default:
				return fmt.Errorf("want required or none, got %q", v)
			}
			return nil
		},
	}, {
		flag: "erasure-merged-id", env: "LIFECYCLE_ERASURE_MERGED_ID", def: "needs_review",
		usage: "an erasure of a guest id merged into a user: needs_review (erase the guest's ids, then wait for a person, naming the user) or refuse (fail at once: erase the user)",
		set: func(c *Config, v string) error {
			switch v {
			case "refuse":
				c.Privacy.RefuseMergedID = true
			case "needs_review":
			default:
				return fmt.Errorf("want needs_review or refuse, got %q", v)
			}
			return nil
		},
	}, {
		flag: "erasure-history-retention", env: "LIFECYCLE_ERASURE_HISTORY_RETENTION", def: HistoryRetentionDefault.String(),
		usage: "how long finished (done, denied) erasures stay listed; their records stay in Redis regardless",
		set:   func(c *Config, v string) error { return positiveDuration(v, &c.Privacy.HistoryRetention) },
	}, {
		flag: "webhook-secret", env: "LIFECYCLE_WEBHOOK_SECRET", secret: true,
		usage: "key of the webhooks' HMAC-SHA256 signature, at least 16 bytes; required with --webhook-url",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return fmt.Errorf("too short (%d bytes): use at least 16 random bytes", len(v))
			}
			c.Privacy.WebhookSecret = Secret(v)
			return nil
		},
	}, {
		// After the secret, which it needs.
		flag: "webhook-url", env: "LIFECYCLE_WEBHOOK_URL",
		usage: "URL that receives a signed POST when an erasure is done, failed, needs review or is at risk (empty: none)",
		set: func(c *Config, v string) error {
			if v != "" && c.Privacy.WebhookSecret == "" {
				return errors.New("needs LIFECYCLE_WEBHOOK_SECRET: receivers must be able to check what they get")
			}
			c.Privacy.WebhookURL = v
			return httpURL(v)
		},
	}},
	GroupStorage: {
		{flag: "storage", env: "LIFECYCLE_STORAGE", def: StorageDefault(),
			usage: "object storage: file:///path or s3://bucket?endpoint=host:port&region=r&secure=false",
			set: func(c *Config, v string) error {
				if _, err := storage.ParseURL(v); err != nil {
					return err
				}
				c.Storage = v
				return nil
			}},
		{flag: "s3-access-key", env: "LIFECYCLE_S3_ACCESS_KEY", secret: true, usage: "S3 access key",
			set: func(c *Config, v string) error { c.S3AccessKey = Secret(v); return nil }},
		{flag: "s3-secret-key", env: "LIFECYCLE_S3_SECRET_KEY", secret: true, usage: "S3 secret key",
			set: func(c *Config, v string) error { c.S3SecretKey = Secret(v); return nil }},
		{flag: "storage-timeout", env: "LIFECYCLE_STORAGE_TIMEOUT", def: storage.TimeoutDefault.String(),
			usage: "how long one request to S3 may take before it fails (and is tried once more); a store that stops answering then frees the worker slot instead of holding it until the task's timeout",
			set: func(c *Config, v string) error {
				// A request and its one retry must fit in the shortest task
				// timeout of work that uses storage, a merge's.
				limit := mergeTimeout() / 2
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 || d >= limit {
					return fmt.Errorf("want a positive duration under %v (a request and its retry must fit in a merge's %v timeout), got %q", limit, mergeTimeout(), v)
				}
				c.StorageTimeout = d
				return nil
			}},
	},
	GroupWorker: {
		{flag: "concurrency", env: "LIFECYCLE_CONCURRENCY", def: strconv.Itoa(ConcurrencyDefault),
			usage: "tasks processed at once by this worker",
			set:   func(c *Config, v string) error { return positiveInt(v, &c.Concurrency) }},
		{flag: "queues", env: "LIFECYCLE_QUEUES",
			usage: "queue weights as name=weight,... (default: the producer contract's weights)",
			set: func(c *Config, v string) error {
				q, err := ParseQueues(v)
				c.Queues = q
				return err
			}},
		{flag: "shutdown-timeout", env: "LIFECYCLE_SHUTDOWN_TIMEOUT", def: ShutdownTimeoutDefault.String(),
			usage: "on SIGTERM, the time within which the process exits: running tasks may finish until shortly before it, then go back to their queue",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("want a positive duration such as 25s, got %q", v)
				}
				c.ShutdownTimeout = d
				return nil
			}},
		{flag: "erasure-slice-budget", env: "LIFECYCLE_ERASURE_SLICE_BUDGET", def: "10s",
			usage: "how long one erasure task takes new steps before the next task of its chain continues (at least 1s)",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Second {
					return fmt.Errorf("want a duration of at least 1s such as 10s, got %q", v)
				}
				c.ErasureSliceBudget = d
				return nil
			}},
		{flag: "task-check-interval", env: "LIFECYCLE_TASK_CHECK_INTERVAL", def: TaskCheckIntervalDefault.String(),
			usage: "how often an idle worker polls its empty queues: the longest a task waits on an idle worker; shorter costs Redis more commands",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Millisecond || d > time.Minute {
					return fmt.Errorf("want a duration from 1ms to 1m such as 50ms, got %q", v)
				}
				c.TaskCheckInterval = d
				return nil
			}},
	},
	GroupUpstream: {
		{flag: "artifi-url", env: "LIFECYCLE_ARTIFI_URL", usage: "Artifi API base URL (empty: Artifi tasks are dead-lettered as not configured)",
			set: func(c *Config, v string) error { c.Artifi.URL = v; return httpURL(v) }},
		{flag: "artifi-website-id", env: "LIFECYCLE_ARTIFI_WEBSITE_ID", usage: "Artifi websiteId",
			set: func(c *Config, v string) error { return optionalInt(v, &c.Artifi.WebsiteID) }},
		{flag: "artifi-client-key", env: "LIFECYCLE_ARTIFI_CLIENT_KEY", secret: true, usage: "Artifi webApiClientKey",
			set: func(c *Config, v string) error { c.Artifi.ClientKey = Secret(v); return nil }},
		{flag: "artifi-concurrency", env: "LIFECYCLE_ARTIFI_CONCURRENCY", def: strconv.Itoa(UpstreamLimitDefault), usage: "calls to Artifi at once, across all workers",
			set: func(c *Config, v string) error { return positiveInt(v, &c.Artifi.Concurrency) }},
		{flag: "bigin-accounts-url", env: "LIFECYCLE_BIGIN_ACCOUNTS_URL", usage: "Zoho accounts server (default: from --bigin-data-center)",
			set: func(c *Config, v string) error { c.Bigin.AccountsURL = v; return httpURL(v) }},
		{flag: "bigin-api-domain", env: "LIFECYCLE_BIGIN_API_DOMAIN", usage: "Zoho API domain (default: from --bigin-data-center)",
			set: func(c *Config, v string) error { c.Bigin.APIDomain = v; return httpURL(v) }},
		{flag: "bigin-data-center", env: "LIFECYCLE_BIGIN_DATA_CENTER", def: "us", usage: "Zoho data centre: us, eu, in, au, jp, cn, sa, ca",
			set: func(c *Config, v string) error {
				if !slices.Contains([]string{"us", "eu", "in", "au", "jp", "cn", "sa", "ca"}, v) {
					return fmt.Errorf("unknown data centre %q (want us, eu, in, au, jp, cn, sa or ca)", v)
				}
				c.Bigin.DataCenter = v
				return nil
			}},
		{flag: "bigin-client-id", env: "LIFECYCLE_BIGIN_CLIENT_ID", usage: "Zoho OAuth client id (empty: Bigin tasks are dead-lettered as not configured)",
			set: func(c *Config, v string) error { c.Bigin.ClientID = v; return nil }},
		{flag: "bigin-client-secret", env: "LIFECYCLE_BIGIN_CLIENT_SECRET", secret: true, usage: "Zoho OAuth client secret",
			set: func(c *Config, v string) error { c.Bigin.ClientSecret = Secret(v); return nil }},
		{flag: "bigin-refresh-token", env: "LIFECYCLE_BIGIN_REFRESH_TOKEN", secret: true, usage: "Zoho OAuth refresh token",
			set: func(c *Config, v string) error { c.Bigin.RefreshToken = Secret(v); return nil }},
		{flag: "bigin-concurrency", env: "LIFECYCLE_BIGIN_CONCURRENCY", def: "5", usage: "calls to Bigin at once, across all workers (Zoho's per-org limit is 5-25)",
			set: func(c *Config, v string) error { return positiveInt(v, &c.Bigin.Concurrency) }},
		{flag: "bpm-url", env: "LIFECYCLE_BPM_URL", usage: "IBM BPM base URL (empty: BPM tasks are dead-lettered as not configured)",
			set: func(c *Config, v string) error { c.BPM.URL = v; return httpURL(v) }},
		{flag: "bpm-username", env: "LIFECYCLE_BPM_USERNAME", usage: "IBM BPM user for Basic auth",
			set: func(c *Config, v string) error { c.BPM.Username = v; return nil }},
		{flag: "bpm-password", env: "LIFECYCLE_BPM_PASSWORD", secret: true, usage: "IBM BPM password",
			set: func(c *Config, v string) error { c.BPM.Password = Secret(v); return nil }},
		{flag: "bpm-concurrency", env: "LIFECYCLE_BPM_CONCURRENCY", def: strconv.Itoa(UpstreamLimitDefault), usage: "calls to IBM BPM at once, across all workers",
			set: func(c *Config, v string) error { return positiveInt(v, &c.BPM.Concurrency) }},
	},
	GroupSchedule: {{
		flag: "schedule", env: "LIFECYCLE_SCHEDULE_FILE",
		usage: "periodic tasks file, re-read while running (empty: the built-in schedule)",
		set:   func(c *Config, v string) error { c.ScheduleFile = v; return nil },
	}},
	GroupSweep: {
		{flag: "sweep-guest-prefix", env: "LIFECYCLE_SWEEP_GUEST_PREFIX", def: SweepGuestPrefixDefault,
			usage: "user ids starting with this are guests, whose assets expire after --sweep-guest-retention without a merge",
			set:   func(c *Config, v string) error { c.Sweep.GuestPrefix = v; return nil }},
		{flag: "sweep-guest-retention", env: "LIFECYCLE_SWEEP_GUEST_RETENTION", def: SweepGuestRetentionDefault.String(),
			usage: "a guest never merged whose newest object is older than this is expired",
			set:   func(c *Config, v string) error { return positiveDuration(v, &c.Sweep.GuestRetention) }},
		{flag: "sweep-grace", env: "LIFECYCLE_SWEEP_GRACE", def: SweepGraceDefault.String(),
			usage: "objects younger than this are never swept (an upload in flight is not an orphan)",
			set:   func(c *Config, v string) error { return positiveDuration(v, &c.Sweep.Grace) }},
		{flag: "sweep-restore-window", env: "LIFECYCLE_SWEEP_RESTORE_WINDOW", def: SweepRestoreWindowDefault.String(),
			usage: "how long quarantined objects can be restored before a purge deletes them",
			set:   func(c *Config, v string) error { return positiveDuration(v, &c.Sweep.RestoreWindow) }},
		{flag: "sweep-max-share", env: "LIFECYCLE_SWEEP_MAX_SHARE", def: strconv.FormatFloat(SweepMaxShareDefault, 'f', -1, 64),
			usage: "a sweep whose orphans exceed this share of the objects scanned (0..1) moves nothing and alerts: an outage looks like everything orphaned",
			set: func(c *Config, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f <= 0 || f > 1 {
					return fmt.Errorf("want a share between 0 and 1 such as 0.1, got %q", v)
				}
				c.Sweep.MaxShare = f
				return nil
			}},
	},
	GroupDev: {{
		flag: "dev-redis-addr", env: "LIFECYCLE_DEV_REDIS_ADDR", def: DevRedisAddrDefault,
		usage: "where the embedded Redis listens when --redis-url is not set (127.0.0.1:0: a free port)",
		set: func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port: %w", err)
			}
			c.DevRedisAddr = v
			return nil
		},
	}},
	GroupErasure: {{
		flag: "receipt-signing-key", env: "LIFECYCLE_RECEIPT_SIGNING_KEY", secret: true,
		usage: "Ed25519 private key that signs erasure receipts: PEM (openssl genpkey -algorithm ed25519), or its base64 body on one line; publish its public key (lifecycle receipt public-key)",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, err := erasure.ParsePrivateKey(v); err != nil {
					return err
				}
			}
			c.ReceiptSigningKey = Secret(v)
			return nil
		},
	}, {
		flag: "receipt-key", env: "LIFECYCLE_RECEIPT_KEY", secret: true,
		usage: "HMAC-SHA256 key of receipts written before Ed25519 signing, at least 16 bytes: only to verify those; keep it as long as they are kept",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return fmt.Errorf("too short (%d bytes): use at least 16 random bytes", len(v))
			}
			c.ReceiptKey = Secret(v)
			return nil
		},
	}, {flag: "erasure-reaudit-after", env: "LIFECYCLE_ERASURE_REAUDIT_AFTER", def: "168h",
		usage: "how long after an erasure finishes it is audited again, to catch data that came back (a replica, a late upload, a merge that raced)",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("want a positive duration such as 168h, got %q", v)
			}
			c.ErasureReauditAfter = d
			return nil
		},
	}},
	GroupLog: {
		{flag: "log-level", env: "LIFECYCLE_LOG_LEVEL", def: LogLevelDefault, usage: "debug, info, warn or error",
			set: func(c *Config, v string) error {
				if !slices.Contains([]string{"debug", "info", "warn", "error"}, v) {
					return fmt.Errorf("unknown level %q (want debug, info, warn or error)", v)
				}
				c.LogLevel = v
				return nil
			}},
		{flag: "log-format", env: "LIFECYCLE_LOG_FORMAT", def: LogFormatDefault, usage: "json or console",
			set: func(c *Config, v string) error {
				if v != "json" && v != "console" {
					return fmt.Errorf("unknown format %q (want json or console)", v)
				}
				c.LogFormat = v
				return nil
			}},
	},
}

func mergeTimeout() time.Duration {
	p, _ := tasks.PolicyFor(tasks.TypeUserMerge)
	return p.Timeout
}

// ParseRedisURL accepts the schemes asynq.ParseRedisURI understands that make
// sense for a worker, with a message that says what was expected.
func ParseRedisURL(v string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %q", redactURL(v))
	}
	switch u.Scheme {
	case "redis", "rediss", "redis-sentinel":
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want redis://, rediss:// or redis-sentinel://)", u.Scheme)
	}
	opt, err := asynq.ParseRedisURI(v)
	if err != nil {
		// asynq's message can quote the URL, password included: keep our own.
		return nil, fmt.Errorf("cannot parse %q: want redis://[:password@]host:port[/db]", redactURL(v))
	}
	return opt, nil
}

// ParseQueues reads "name=weight,name=weight". Empty means the defaults.
func ParseQueues(v string) (map[string]int, error) {
	if v == "" {
		return nil, nil
	}
	q := map[string]int{}
	for part := range strings.SplitSeq(v, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, fmt.Errorf("want name=weight with a positive weight, got %q", part)
		}
		q[name] = n
	}
	return q, nil
}

// RequireRedis is for subcommands that have no embedded Redis.
func (c *Config) RequireRedis() error {
	if c.Redis == nil {
		return &Error{Name: "LIFECYCLE_REDIS_URL", Problem: "required (or --redis-url)"}
	}
	return nil
}

// RedisDisplay is the Redis address without its password, for logs.
func (c *Config) RedisDisplay() string { return redactURL(c.RedisURL) }

func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "(unparseable)"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	return u.String()
}

func positiveInt(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive integer, got %q", v)
	}
	*dst = n
	return nil
}

func positiveDuration(v string, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 24h, got %q", v)
	}
	*dst = d
	return nil
}

func optionalInt(v string, dst *int) error {
	if v == "" {
		return nil
	}
	return positiveInt(v, dst)
}

func httpURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL, got %q", redactURL(v))
	}
	return nil
}

// Variables are the names of every LIFECYCLE_* variable some command reads,
// sorted, with the VAR_FILE form of each secret: what a deployment may set.
func Variables() []string {
	var names []string
	for _, group := range settings {
		for _, s := range group {
			names = append(names, s.env)
			if s.secret {
				names = append(names, s.env+"_FILE")
			}
		}
	}
	slices.Sort(names)
	return names
}

// LoadEnv reads the settings of groups from env alone, as a process started
// without flags would: for checking a deployment's variables.
func LoadEnv(groups Group, env func(string) string) (*Config, error) {
	fs := pflag.NewFlagSet("env", pflag.ContinueOnError)
	return Register(fs, groups).Load(env)
}
