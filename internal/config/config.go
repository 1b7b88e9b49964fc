// Package config turns the serve subcommand's flags and SLUICE_* environment
// variables into one validated Config.
//
// Every setting has a flag and a variable: a flag wins over its variable,
// which wins over the default (docs/operations.md lists them). A bad value
// is reported naming both, e.g. `--retry-schedule (SLUICE_RETRY_SCHEDULE):
// "5x" is not a duration`, and no error ever repeats a secret (the admin
// token, the master key, or a database URL, which may carry a password).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/sluicehq/sluice"
)

// Config is the validated configuration of `sluice serve`.
type Config struct {
	Addr        string // listen address
	DataDir     string // embedded store and generated key file
	DatabaseURL string // empty: the embedded store; else postgres:// or postgresql://
	AdminToken  string // empty: generated on first start
	MasterKey   []byte // 32 bytes, decoded; nil when unset

	AllowPrivateDestinations bool

	// PayloadStorage, the retention windows and AuditRetention are the
	// server's defaults, which tenants (and for storage and payload
	// retention, sources) may override.
	PayloadStorage       sluice.PayloadStorage
	UndeliveredRetention time.Duration
	PayloadRetention     time.Duration
	MetadataRetention    time.Duration
	AuditRetention       time.Duration
	RetentionInterval    time.Duration

	// RetrySchedule is the delay before each attempt; its length (1 to 100)
	// is the attempt limit.
	RetrySchedule   []time.Duration
	MaxPayloadBytes int64
	DeliveryTimeout time.Duration
	DeliveryLease   time.Duration // always longer than DeliveryTimeout
	// TenantWorkers is how many of the delivery workers one tenant's
	// attempts may hold at once (1 to deliver.DefaultWorkers).
	TenantWorkers int

	TLSCert, TLSKey string // both set or both empty

	LogLevel  slog.Level
	LogFormat string // "text" or "json"

	AllowedDestinationCIDRs []netip.Prefix
	TrustedProxies          []netip.Prefix
	DetectEmails            bool

	// PublicURL is the base URL clients reach Sluice at; nil when unset.
	PublicURL *url.URL

	// MaxHops is how many gateways an event may have passed through
	// before ingest and publish refuse it (1 to 100).
	MaxHops int

	// RotateKeyAfter is how many values a tenant's data key seals before
	// the tenant gets a new one (1 to 2^32).
	RotateKeyAfter int64
}

// Load parses the serve subcommand's arguments, falling back to the
// variables getenv returns (an empty value counts as unset) and then to the
// defaults. It returns flag.ErrHelp for -h or --help (print Flags then), a
// *UsageError for an unknown flag, a flag without its value or an argument,
// and otherwise every invalid setting at once, one per line, each naming its
// flag and variable.
func Load(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	fs, values := newFlagSet()
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil, err
	} else if err != nil {
		return nil, &UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return nil, &UsageError{Err: fmt.Errorf("unexpected argument %q (a boolean flag takes its value as --flag=false)", fs.Arg(0))}
	}

	c := &Config{}
	var errs []error
	ok := make(map[string]bool, len(settings)) // flag name → parsed without error
	for i, s := range settings {
		v := s.def
		if values[i].set {
			v = values[i].s
		} else if e := getenv(s.env); e != "" {
			v = e
		}
		if err := s.apply(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name(), err))
			continue
		}
		ok[s.flag] = true
	}
	errs = append(errs, c.checkCombinations(ok)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// checkCombinations validates settings that depend on each other. ok says
// which settings parsed, so a bad value is not reported twice.
func (c *Config) checkCombinations(ok map[string]bool) []error {
	var errs []error
	if ok["tls-cert"] && ok["tls-key"] && (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fmt.Errorf("%s and %s must be set together (or neither, for plain HTTP)",
			settingByFlag("tls-cert").name(), settingByFlag("tls-key").name()))
	}
	if ok["delivery-lease"] && ok["delivery-timeout"] && c.DeliveryLease <= c.DeliveryTimeout {
		errs = append(errs, fmt.Errorf("%s: %s must be longer than %s %s, or a claim would end while its attempt is still running",
			settingByFlag("delivery-lease").name(), c.DeliveryLease, settingByFlag("delivery-timeout").name(), c.DeliveryTimeout))
	}
	if ok["database"] && ok["master-key"] && c.DatabaseURL != "" && c.MasterKey == nil {
		errs = append(errs, fmt.Errorf("%s is required with %s: processes sharing a database must share the key",
			settingByFlag("master-key").name(), settingByFlag("database").name()))
	}
	return errs
}

// Logger returns a logger writing to w at the configured level, as text
// (logfmt) or JSON lines.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// UsageError is a command line Load cannot read at all, as opposed to a
// setting with a bad value: the caller shows how to ask for usage.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Flags returns the serve subcommand's flags, each with its variable in its
// usage and its default, for `sluice serve -h` to list. Parsing is Load's.
func Flags() *flag.FlagSet {
	fs, _ := newFlagSet()
	return fs
}

// newFlagSet registers every setting as a flag that only records its raw
// text: parsing happens in Load, so flag and variable values share one
// validation and one error format.
func newFlagSet() (*flag.FlagSet, []*rawValue) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	values := make([]*rawValue, len(settings))
	for i, s := range settings {
		values[i] = &rawValue{s: s.def, isBool: s.isBool}
		fs.Var(values[i], s.flag, s.usage+" ("+s.env+")")
	}
	return fs, values
}

// rawValue is a flag.Value keeping the text it was given and whether it was
// given at all.
type rawValue struct {
	s      string
	set    bool
	isBool bool
}

func (v *rawValue) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *rawValue) Set(s string) error {
	v.s, v.set = s, true
	return nil
}

// IsBoolFlag lets boolean settings be given as a bare --flag.
func (v *rawValue) IsBoolFlag() bool { return v.isBool }

// Retention is the server's retention and payload storage, as the store
// applies them.
func (c *Config) Retention() sluice.Retention {
	return sluice.Retention{PayloadStorage: c.PayloadStorage, Undelivered: c.UndeliveredRetention,
		Delivered: c.PayloadRetention, Metadata: c.MetadataRetention, Audit: c.AuditRetention}
}
