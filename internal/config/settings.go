package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/origin"
)

// setting is one row of the table in docs/operations.md: a flag, its
// variable, its default, and how its text becomes a Config field. apply's errors never include a secret's
// value; Load prefixes them with the setting's name.
type setting struct {
	flag, env, def, usage string
	isBool                bool
	apply                 func(c *Config, v string) error
}

// name is how errors refer to the setting: `--flag (VARIABLE)`.
func (s *setting) name() string { return "--" + s.flag + " (" + s.env + ")" }

// settings lists every setting of `sluice serve`.
var settings = []setting{
	{flag: "addr", env: "SLUICE_ADDR", def: ":8080", usage: "listen `address` (host:port)",
		apply: func(c *Config, v string) (err error) { c.Addr, err = parseAddr(v); return }},
	{flag: "data-dir", env: "SLUICE_DATA_DIR", def: "./sluice-data", usage: "`directory` of the embedded store and the generated key file",
		apply: func(c *Config, v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("must not be empty")
			}
			c.DataDir = v
			return nil
		}},
	{flag: "database", env: "SLUICE_DATABASE_URL", usage: "PostgreSQL `URL` (postgres://…); empty: the embedded store",
		apply: func(c *Config, v string) (err error) { c.DatabaseURL, err = parseDatabaseURL(v); return }},
	{flag: "admin-token", env: "SLUICE_ADMIN_TOKEN", usage: "operator `token`, at least 32 characters; empty: generated on first start and printed once. Set on a later start, it replaces the operator token",
		apply: func(c *Config, v string) (err error) { c.AdminToken, err = parseToken(v); return }},
	{flag: "master-key", env: "SLUICE_MASTER_KEY", usage: "`base64` of 32 bytes wrapping the data keys; empty: generated into the data dir (embedded store only)",
		apply: func(c *Config, v string) (err error) { c.MasterKey, err = ParseMasterKey(v); return }},
	{flag: "allow-private-destinations", env: "SLUICE_ALLOW_PRIVATE_DESTINATIONS", def: "false", isBool: true,
		usage: "permit loopback, private and link-local destinations (development and tests only)",
		apply: func(c *Config, v string) (err error) { c.AllowPrivateDestinations, err = parseBool(v); return }},
	{flag: "payload-retention", env: "SLUICE_PAYLOAD_RETENTION", def: "720h",
		usage: "how long a payload is kept once delivered, from its receipt: the replay and debugging window (a `duration` such as 720h)",
		apply: func(c *Config, v string) (err error) { c.PayloadRetention, err = parsePositiveDuration(v); return }},
	{flag: "metadata-retention", env: "SLUICE_METADATA_RETENTION", def: "8760h", usage: "event and attempt metadata lifetime (a `duration`)",
		apply: func(c *Config, v string) (err error) { c.MetadataRetention, err = parsePositiveDuration(v); return }},
	{flag: "undelivered-retention", env: "SLUICE_UNDELIVERED_RETENTION", def: "72h",
		usage: "how long a payload is kept while its event is not delivered: the retry horizon (a `duration`)",
		apply: func(c *Config, v string) (err error) { c.UndeliveredRetention, err = parsePositiveDuration(v); return }},
	{flag: "audit-retention", env: "SLUICE_AUDIT_RETENTION", def: "8760h",
		usage: "lifetime of audit entries, erasure records and observed event shapes (a `duration`)",
		apply: func(c *Config, v string) (err error) { c.AuditRetention, err = parsePositiveDuration(v); return }},
	{flag: "payload-storage", env: "SLUICE_PAYLOAD_STORAGE", def: "retain",
		usage: "`mode`: retain, until_delivered (deleted once delivered) or none (never written; not durable)",
		apply: func(c *Config, v string) error {
			c.PayloadStorage = sluice.PayloadStorage(v)
			if !c.PayloadStorage.Valid() {
				return errors.New(`must be "retain", "until_delivered" or "none"`)
			}
			return nil
		}},
	{flag: "retention-interval", env: "SLUICE_RETENTION_INTERVAL", def: "1m", usage: "how often expired data is purged (a `duration`)",
		apply: func(c *Config, v string) (err error) { c.RetentionInterval, err = parsePositiveDuration(v); return }},
	{flag: "retry-schedule", env: "SLUICE_RETRY_SCHEDULE", def: "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h",
		usage: "comma-separated `durations`: the delay before each attempt; its length is the attempt limit",
		apply: func(c *Config, v string) (err error) { c.RetrySchedule, err = parseRetrySchedule(v); return }},
	{flag: "max-payload-bytes", env: "SLUICE_MAX_PAYLOAD_BYTES", def: "1048576", usage: "largest accepted request body in `bytes`; larger gets 413",
		apply: func(c *Config, v string) (err error) { c.MaxPayloadBytes, err = parsePositiveInt(v); return }},
	{flag: "delivery-timeout", env: "SLUICE_DELIVERY_TIMEOUT", def: "15s", usage: "per-attempt HTTP timeout (a `duration`)",
		apply: func(c *Config, v string) (err error) { c.DeliveryTimeout, err = parsePositiveDuration(v); return }},
	{flag: "delivery-lease", env: "SLUICE_DELIVERY_LEASE", def: "30s", usage: "how long (a `duration`) a claimed delivery stays claimed; longer than --delivery-timeout",
		apply: func(c *Config, v string) (err error) { c.DeliveryLease, err = parsePositiveDuration(v); return }},
	{flag: "tenant-workers", env: "SLUICE_TENANT_WORKERS", def: strconv.Itoa(deliver.DefaultPerTenant),
		usage: "`count` of the " + strconv.Itoa(deliver.DefaultWorkers) + " delivery workers one tenant's attempts may hold at once; the rest are kept for the other tenants",
		apply: func(c *Config, v string) (err error) { c.TenantWorkers, err = parseTenantWorkers(v); return }},
	{flag: "tls-cert", env: "SLUICE_TLS_CERT", usage: "certificate `file` to serve HTTPS directly (with --tls-key)",
		apply: func(c *Config, v string) error { c.TLSCert = v; return nil }},
	{flag: "tls-key", env: "SLUICE_TLS_KEY", usage: "private key `file` to serve HTTPS directly (with --tls-cert)",
		apply: func(c *Config, v string) error { c.TLSKey = v; return nil }},
	{flag: "log-level", env: "SLUICE_LOG_LEVEL", def: "info", usage: "`level`: debug, info, warn or error",
		apply: func(c *Config, v string) (err error) { c.LogLevel, err = parseLogLevel(v); return }},
	{flag: "log-format", env: "SLUICE_LOG_FORMAT", def: "text", usage: "`format`: text or json",
		apply: func(c *Config, v string) (err error) { c.LogFormat, err = parseLogFormat(v); return }},
	{flag: "allowed-destination-cidrs", env: "SLUICE_ALLOWED_DESTINATION_CIDRS", usage: "comma-separated `CIDRs`: private ranges destinations may use anyway",
		apply: func(c *Config, v string) (err error) { c.AllowedDestinationCIDRs, err = parsePrefixes(v); return }},
	{flag: "trusted-proxies", env: "SLUICE_TRUSTED_PROXIES", usage: "comma-separated `CIDRs` whose X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host are believed",
		apply: func(c *Config, v string) (err error) { c.TrustedProxies, err = parsePrefixes(v); return }},
	{flag: "detect-emails", env: "SLUICE_DETECT_EMAILS", def: "true", isBool: true, usage: "index every email address found in a payload",
		apply: func(c *Config, v string) (err error) { c.DetectEmails, err = parseBool(v); return }},
	{flag: "public-url", env: "SLUICE_PUBLIC_URL",
		usage: "the `URL` clients reach Sluice at (https://hooks.example.com), for ingest URLs, thin deliveries' fetch URLs and Secure cookies; empty: what each request (or a trusted proxy) says",
		apply: func(c *Config, v string) (err error) {
			if strings.TrimSpace(v) == "" {
				return nil
			}
			c.PublicURL, err = origin.ParsePublic(v)
			return err
		}},
	{flag: "max-hops", env: "SLUICE_MAX_HOPS", def: "3",
		usage: "`count` of gateways an event may have passed through (the Sluice-Hops header) before it is refused with 508, ending delivery loops",
		apply: func(c *Config, v string) error {
			n, err := parsePositiveInt(v)
			if err == nil && n > maxMaxHops {
				err = fmt.Errorf("at most %d", maxMaxHops)
			}
			c.MaxHops = int(n)
			return err
		}},
	{flag: "rotate-key-after", env: "SLUICE_ROTATE_KEY_AFTER", def: "1073741824",
		usage: "`count` of values a tenant's data key seals before the tenant gets a new one (at most 2^32: AES-GCM with random nonces, NIST SP 800-38D)",
		apply: func(c *Config, v string) (err error) { c.RotateKeyAfter, err = parseRotateKeyAfter(v); return }},
}

// maxMaxHops bounds --max-hops: a chain of gateways longer than this is
// a loop, not an architecture.
const maxMaxHops = 100

// maxRotateKeyAfter is the most values one data key may seal: NIST SP
// 800-38D allows an AES-GCM key 2^32 invocations with random 96-bit
// nonces, beyond which a repeated nonce becomes likely enough to matter.
const maxRotateKeyAfter = 1 << 32

func parseRotateKeyAfter(v string) (int64, error) {
	n, err := parsePositiveInt(v)
	if err == nil && n > maxRotateKeyAfter {
		return 0, fmt.Errorf("%d is more than 2^32 (%d), the most values AES-GCM with random nonces may seal under one key", n, int64(maxRotateKeyAfter))
	}
	return n, err
}

// parseTenantWorkers reads --tenant-workers: at least one worker, or a
// tenant could deliver nothing, and at most every worker there is.
func parseTenantWorkers(v string) (int, error) {
	n, err := parsePositiveInt(v)
	if err == nil && n > deliver.DefaultWorkers {
		return 0, fmt.Errorf("%d is more than the %d delivery workers", n, deliver.DefaultWorkers)
	}
	return int(n), err
}

// settingByFlag returns the setting of a flag name; it panics on a name that
// is not in settings, which is a bug.
func settingByFlag(flag string) *setting {
	for i := range settings {
		if settings[i].flag == flag {
			return &settings[i]
		}
	}
	panic("config: no setting " + flag)
}

func parseAddr(v string) (string, error) {
	v = strings.TrimSpace(v)
	if _, _, err := net.SplitHostPort(v); err != nil {
		return "", fmt.Errorf("%q is not a host:port address (e.g. :8080 or 127.0.0.1:8080)", v)
	}
	return v, nil
}

// parseDatabaseURL never echoes v: a database URL usually carries a password.
func parseDatabaseURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	lower := strings.ToLower(v)
	if v != "" && !strings.HasPrefix(lower, "postgres://") && !strings.HasPrefix(lower, "postgresql://") {
		return "", errors.New("must be a postgres:// or postgresql:// URL (leave it empty for the embedded store)")
	}
	return v, nil
}

// minTokenLength is the shortest operator token accepted. The operator
// token is the bearer password to every tenant's creation and deletion,
// stored under a fast hash (SHA-256), so its strength has to be its own:
// 32 random hex characters carry 128 bits. A length cannot prove
// randomness, but it refuses the "admin", "secret" and "changeme" that are
// tried first. Generated tokens are 46 characters (256 bits).
const minTokenLength = 32

// parseToken never echoes v.
func parseToken(v string) (string, error) {
	if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", errors.New("must not contain spaces or control characters")
	}
	if n := utf8.RuneCountInString(v); v != "" && n < minTokenLength {
		return "", fmt.Errorf("is %d characters; it must be at least %d, as random as a generated one "+
			"(e.g. sk_$(openssl rand -hex 32)), or leave it unset to have one generated", n, minTokenLength)
	}
	return v, nil
}

// ParseMasterKey reads a master key given as base64 of 32 bytes; empty
// means none (nil). Its errors never echo v.
func ParseMasterKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New("is not valid standard base64")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("must be base64 of 32 bytes, got %d bytes", len(key))
	}
	return key, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("%q is not a boolean (true or false)", v)
	}
	return b, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (Go syntax, e.g. 90s or 2h)", v)
	}
	return d, nil
}

func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%q must be greater than zero", v)
	}
	return d, err
}

// maxRetries bounds the retry schedule: more attempts than this is a typo,
// not a policy.
const maxRetries = 100

func parseRetrySchedule(v string) ([]time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("must list 1 to %d comma-separated delays", maxRetries)
	}
	parts := strings.Split(v, ",")
	if len(parts) > maxRetries {
		return nil, fmt.Errorf("has %d entries; at most %d are allowed", len(parts), maxRetries)
	}
	out := make([]time.Duration, 0, len(parts))
	for _, p := range parts {
		d, err := parseDuration(p)
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("%q is negative", strings.TrimSpace(p))
		}
		out = append(out, d)
	}
	return out, nil
}

func parsePositiveInt(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive integer", v)
	}
	return n, nil
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

func parseLogLevel(v string) (slog.Level, error) {
	l, ok := logLevels[strings.ToLower(strings.TrimSpace(v))]
	if !ok {
		return 0, fmt.Errorf("%q is not a log level (debug, info, warn or error)", v)
	}
	return l, nil
}

func parseLogFormat(v string) (string, error) {
	f := strings.ToLower(strings.TrimSpace(v))
	if f != "text" && f != "json" {
		return "", fmt.Errorf("%q is not a log format (text or json)", v)
	}
	return f, nil
}

// parsePrefixes reads a comma-separated list of CIDRs (see sluice.ParseCIDR).
func parsePrefixes(v string) ([]netip.Prefix, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for p := range strings.SplitSeq(v, ",") {
		prefix, err := sluice.ParseCIDR(p)
		if err != nil {
			return nil, err
		}
		out = append(out, prefix)
	}
	return out, nil
}
