package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustLoad(t *testing.T, args []string, vars map[string]string) *Config {
	t.Helper()
	c, err := Load(args, env(vars))
	if err != nil {
		t.Fatalf("Load(%q) error: %v", args, err)
	}
	return c
}

func TestDefaultsMatchSpec(t *testing.T) {
	t.Parallel()
	got := mustLoad(t, nil, nil)
	want := &Config{
		Addr:                 ":8080",
		DataDir:              "./sluice-data",
		PayloadStorage:       sluice.StorageRetain,
		UndeliveredRetention: 72 * time.Hour,
		PayloadRetention:     720 * time.Hour,
		MetadataRetention:    8760 * time.Hour,
		AuditRetention:       8760 * time.Hour,
		RetentionInterval:    time.Minute,
		RetrySchedule: []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour},
		MaxPayloadBytes: 1048576,
		DeliveryTimeout: 15 * time.Second,
		DeliveryLease:   30 * time.Second,
		TenantWorkers:   48,
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
		DetectEmails:    true,
		RotateKeyAfter:  1 << 30,
		MaxHops:         3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if got.MasterKey != nil || got.AllowedDestinationCIDRs != nil || got.TrustedProxies != nil {
		t.Fatal("unset master key and CIDR lists must be nil")
	}
}

func TestEveryVariableApplies(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	vars := map[string]string{
		"SLUICE_ADDR":                       "127.0.0.1:9000",
		"SLUICE_DATA_DIR":                   "/var/lib/sluice",
		"SLUICE_DATABASE_URL":               "postgres://u:p@db/sluice",
		"SLUICE_ADMIN_TOKEN":                "sk_operator_token_of_at_least_32_chars",
		"SLUICE_MASTER_KEY":                 base64.StdEncoding.EncodeToString(key),
		"SLUICE_ALLOW_PRIVATE_DESTINATIONS": "true",
		"SLUICE_PAYLOAD_RETENTION":          "168h",
		"SLUICE_METADATA_RETENTION":         "2160h",
		"SLUICE_UNDELIVERED_RETENTION":      "24h",
		"SLUICE_AUDIT_RETENTION":            "4380h",
		"SLUICE_PAYLOAD_STORAGE":            "until_delivered",
		"SLUICE_RETENTION_INTERVAL":         "30s",
		"SLUICE_RETRY_SCHEDULE":             "0s, 1s ,1m",
		"SLUICE_MAX_PAYLOAD_BYTES":          "2048",
		"SLUICE_DELIVERY_TIMEOUT":           "5s",
		"SLUICE_DELIVERY_LEASE":             "1m",
		"SLUICE_TLS_CERT":                   "cert.pem",
		"SLUICE_TLS_KEY":                    "key.pem",
		"SLUICE_LOG_LEVEL":                  "DEBUG",
		"SLUICE_LOG_FORMAT":                 "json",
		"SLUICE_ALLOWED_DESTINATION_CIDRS":  "10.0.0.0/8, 192.168.1.7",
		"SLUICE_TRUSTED_PROXIES":            "fd00::/8,::1",
		"SLUICE_DETECT_EMAILS":              "0",
		"SLUICE_ROTATE_KEY_AFTER":           "1000000",
		"SLUICE_MAX_HOPS":                   "5",
		"SLUICE_PUBLIC_URL":                 "https://hooks.example.com/sluice/",
		"SLUICE_TENANT_WORKERS":             "64",
	}
	got := mustLoad(t, nil, vars)
	want := &Config{
		Addr:                     "127.0.0.1:9000",
		DataDir:                  "/var/lib/sluice",
		DatabaseURL:              "postgres://u:p@db/sluice",
		AdminToken:               "sk_operator_token_of_at_least_32_chars",
		MasterKey:                key,
		AllowPrivateDestinations: true,
		PayloadStorage:           sluice.StorageUntilDelivered,
		UndeliveredRetention:     24 * time.Hour,
		PayloadRetention:         168 * time.Hour,
		MetadataRetention:        2160 * time.Hour,
		AuditRetention:           4380 * time.Hour,
		RetentionInterval:        30 * time.Second,
		RetrySchedule:            []time.Duration{0, time.Second, time.Minute},
		MaxPayloadBytes:          2048,
		DeliveryTimeout:          5 * time.Second,
		DeliveryLease:            time.Minute,
		TenantWorkers:            64,
		TLSCert:                  "cert.pem",
		TLSKey:                   "key.pem",
		LogLevel:                 slog.LevelDebug,
		LogFormat:                "json",
		AllowedDestinationCIDRs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")},
		TrustedProxies:           []netip.Prefix{netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("::1/128")},
		DetectEmails:             false,
		RotateKeyAfter:           1000000,
		MaxHops:                  5,
		PublicURL:                &url.URL{Scheme: "https", Host: "hooks.example.com", Path: "/sluice"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("from variables:\n got %+v\nwant %+v", got, want)
	}
}

func TestFlagBeatsVariable(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"SLUICE_ADDR":                       ":1111",
		"SLUICE_RETRY_SCHEDULE":             "1s",
		"SLUICE_DETECT_EMAILS":              "true",
		"SLUICE_ALLOW_PRIVATE_DESTINATIONS": "false",
		"SLUICE_LOG_LEVEL":                  "error",
		"SLUICE_DATABASE_URL":               "postgres://db/x",
		"SLUICE_MASTER_KEY":                 base64.StdEncoding.EncodeToString(make([]byte, 32)),
	}
	got := mustLoad(t, []string{
		"--addr", ":2222",
		"-retry-schedule=2s,3s",
		"--detect-emails=false",
		"--allow-private-destinations", // a bare boolean flag means true
		"--log-level", "warn",
		"--database", "", // an explicitly empty flag still wins
	}, vars)
	if got.Addr != ":2222" {
		t.Errorf("Addr = %q, want :2222", got.Addr)
	}
	if want := []time.Duration{2 * time.Second, 3 * time.Second}; !reflect.DeepEqual(got.RetrySchedule, want) {
		t.Errorf("RetrySchedule = %v, want %v", got.RetrySchedule, want)
	}
	if got.DetectEmails {
		t.Error("DetectEmails = true, want the flag's false")
	}
	if !got.AllowPrivateDestinations {
		t.Error("AllowPrivateDestinations = false, want the bare flag's true")
	}
	if got.LogLevel != slog.LevelWarn {
		t.Errorf("LogLevel = %v, want WARN", got.LogLevel)
	}
	if got.DatabaseURL != "" {
		t.Errorf("DatabaseURL = %q, want the flag's empty value", got.DatabaseURL)
	}
}

func TestBadValueNamesTheSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want []string // substrings of the error
	}{
		{"addr", []string{"--addr", "8080"}, nil, []string{"--addr (SLUICE_ADDR)", `"8080"`}},
		{"data dir", []string{"--data-dir="}, nil, []string{"--data-dir (SLUICE_DATA_DIR)", "empty"}},
		{"database", nil, map[string]string{"SLUICE_DATABASE_URL": "mysql://x"}, []string{"--database (SLUICE_DATABASE_URL)", "postgres://"}},
		{"master key not base64", nil, map[string]string{"SLUICE_MASTER_KEY": "!!!"}, []string{"--master-key (SLUICE_MASTER_KEY)", "base64"}},
		{"master key short", []string{"--master-key", base64.StdEncoding.EncodeToString(make([]byte, 16))}, nil,
			[]string{"--master-key (SLUICE_MASTER_KEY)", "32 bytes, got 16"}},
		{"master key raw base64", []string{"--master-key", base64.RawStdEncoding.EncodeToString(make([]byte, 32))}, nil,
			[]string{"--master-key (SLUICE_MASTER_KEY)", "base64"}},
		{"admin token", []string{"--admin-token", "two words"}, nil, []string{"--admin-token (SLUICE_ADMIN_TOKEN)"}},
		{"admin token short", []string{"--admin-token", "admin"}, nil, []string{"--admin-token (SLUICE_ADMIN_TOKEN)", "is 5 characters", "at least 32"}},
		{"admin token one short", nil, map[string]string{"SLUICE_ADMIN_TOKEN": strings.Repeat("x", 31)},
			[]string{"--admin-token (SLUICE_ADMIN_TOKEN)", "at least 32"}},
		{"bool variable", nil, map[string]string{"SLUICE_ALLOW_PRIVATE_DESTINATIONS": "yes"},
			[]string{"--allow-private-destinations (SLUICE_ALLOW_PRIVATE_DESTINATIONS)", `"yes" is not a boolean`}},
		{"bool flag", []string{"--detect-emails=maybe"}, nil, []string{"--detect-emails (SLUICE_DETECT_EMAILS)", `"maybe"`}},
		{"zero rotation count", []string{"--rotate-key-after=0"}, nil, []string{"--rotate-key-after (SLUICE_ROTATE_KEY_AFTER)", "positive integer"}},
		{"tenant workers zero", []string{"--tenant-workers=0"}, nil, []string{"--tenant-workers (SLUICE_TENANT_WORKERS)", "positive integer"}},
		{"tenant workers past the workers", nil, map[string]string{"SLUICE_TENANT_WORKERS": "65"},
			[]string{"--tenant-workers (SLUICE_TENANT_WORKERS)", "more than the 64 delivery workers"}},
		{"rotation count past 2^32", nil, map[string]string{"SLUICE_ROTATE_KEY_AFTER": "4294967297"},
			[]string{"--rotate-key-after (SLUICE_ROTATE_KEY_AFTER)", "2^32"}},
		{"relative public URL", []string{"--public-url=hooks.example.com"}, nil, []string{"--public-url (SLUICE_PUBLIC_URL)", "absolute URL"}},
		{"public URL with a query", nil, map[string]string{"SLUICE_PUBLIC_URL": "https://h.example.com/?x=1"}, []string{"--public-url (SLUICE_PUBLIC_URL)", "no query"}},
		{"zero hops", []string{"--max-hops=0"}, nil, []string{"--max-hops (SLUICE_MAX_HOPS)", "positive integer"}},
		{"too many hops", nil, map[string]string{"SLUICE_MAX_HOPS": "101"}, []string{"--max-hops (SLUICE_MAX_HOPS)", "at most 100"}},
		{"payload retention", []string{"--payload-retention", "30d"}, nil,
			[]string{`--payload-retention (SLUICE_PAYLOAD_RETENTION): "30d" is not a duration`}},
		{"payload storage", []string{"--payload-storage", "forever"}, nil,
			[]string{"--payload-storage (SLUICE_PAYLOAD_STORAGE)", `"retain", "until_delivered" or "none"`}},
		{"undelivered retention zero", nil, map[string]string{"SLUICE_UNDELIVERED_RETENTION": "0s"},
			[]string{"--undelivered-retention (SLUICE_UNDELIVERED_RETENTION)", "greater than zero"}},
		{"metadata retention zero", nil, map[string]string{"SLUICE_METADATA_RETENTION": "0s"},
			[]string{"--metadata-retention (SLUICE_METADATA_RETENTION)", "greater than zero"}},
		{"retention interval negative", []string{"--retention-interval=-1m"}, nil,
			[]string{"--retention-interval (SLUICE_RETENTION_INTERVAL)", "greater than zero"}},
		{"retry schedule", []string{"--retry-schedule", "0s,5x"}, nil,
			[]string{`--retry-schedule (SLUICE_RETRY_SCHEDULE): "5x" is not a duration`}},
		{"retry schedule negative", []string{"--retry-schedule", "1s,-1s"}, nil,
			[]string{"--retry-schedule (SLUICE_RETRY_SCHEDULE)", `"-1s" is negative`}},
		{"retry schedule empty", []string{"--retry-schedule", " "}, nil,
			[]string{"--retry-schedule (SLUICE_RETRY_SCHEDULE)", "1 to 100"}},
		{"retry schedule trailing comma", []string{"--retry-schedule", "1s,"}, nil,
			[]string{"--retry-schedule (SLUICE_RETRY_SCHEDULE)", `"" is not a duration`}},
		{"retry schedule too long", []string{"--retry-schedule", strings.Repeat("1s,", 100) + "1s"}, nil,
			[]string{"--retry-schedule (SLUICE_RETRY_SCHEDULE)", "101 entries"}},
		{"max payload bytes", []string{"--max-payload-bytes", "1MB"}, nil,
			[]string{"--max-payload-bytes (SLUICE_MAX_PAYLOAD_BYTES)", `"1MB" is not a positive integer`}},
		{"max payload bytes zero", nil, map[string]string{"SLUICE_MAX_PAYLOAD_BYTES": "0"},
			[]string{"--max-payload-bytes (SLUICE_MAX_PAYLOAD_BYTES)", "positive"}},
		{"delivery timeout", []string{"--delivery-timeout", "15"}, nil, []string{"--delivery-timeout (SLUICE_DELIVERY_TIMEOUT)", "duration"}},
		{"lease not above timeout", []string{"--delivery-timeout", "30s"}, nil,
			[]string{"--delivery-lease (SLUICE_DELIVERY_LEASE)", "longer than --delivery-timeout (SLUICE_DELIVERY_TIMEOUT)"}},
		{"tls cert alone", []string{"--tls-cert", "c.pem"}, nil,
			[]string{"--tls-cert (SLUICE_TLS_CERT) and --tls-key (SLUICE_TLS_KEY) must be set together"}},
		{"tls key alone", nil, map[string]string{"SLUICE_TLS_KEY": "k.pem"},
			[]string{"--tls-cert (SLUICE_TLS_CERT) and --tls-key (SLUICE_TLS_KEY)"}},
		{"log level", []string{"--log-level", "verbose"}, nil, []string{"--log-level (SLUICE_LOG_LEVEL)", `"verbose"`}},
		{"log format", nil, map[string]string{"SLUICE_LOG_FORMAT": "xml"}, []string{"--log-format (SLUICE_LOG_FORMAT)", `"xml"`}},
		{"cidr", []string{"--allowed-destination-cidrs", "10.0.0.0/8,10.0.0.0/33"}, nil,
			[]string{"--allowed-destination-cidrs (SLUICE_ALLOWED_DESTINATION_CIDRS)", `"10.0.0.0/33"`}},
		{"cidr empty entry", nil, map[string]string{"SLUICE_TRUSTED_PROXIES": "10.0.0.1,,10.0.0.2"},
			[]string{"--trusted-proxies (SLUICE_TRUSTED_PROXIES)", "empty entry"}},
		{"proxy not an address", []string{"--trusted-proxies", "proxy.internal"}, nil,
			[]string{"--trusted-proxies (SLUICE_TRUSTED_PROXIES)", `"proxy.internal"`}},
		{"database without master key", []string{"--database", "postgresql://db/sluice"}, nil,
			[]string{"--master-key (SLUICE_MASTER_KEY) is required with --database (SLUICE_DATABASE_URL)"}},
		{"several at once", []string{"--addr", "x", "--log-format", "xml"}, nil,
			[]string{"--addr (SLUICE_ADDR)", "--log-format (SLUICE_LOG_FORMAT)"}},
		{"positional argument", []string{"--detect-emails", "false"}, nil, []string{`unexpected argument "false"`, "--flag=false"}},
		{"unknown flag", []string{"--port", "80"}, nil, []string{"port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.args, env(tt.vars))
			if err == nil {
				t.Fatalf("Load(%q, %v) = nil error, want one naming %q", tt.args, tt.vars, tt.want[0])
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	const token = "sk_super secret_token"
	key := base64.StdEncoding.EncodeToString([]byte("thirty-one bytes of secret key!"))
	badB64 := "c2VjcmV0LWtleS1tYXRlcmlhbA*="
	dbURL := "mysql://admin:hunter2pass@db/sluice"
	tests := []struct {
		name   string
		args   []string
		vars   map[string]string
		secret string
	}{
		{"token flag", []string{"--admin-token", token}, nil, "super secret"},
		{"token variable", nil, map[string]string{"SLUICE_ADMIN_TOKEN": token}, "super secret"},
		{"short token", []string{"--admin-token", "sk_hunter2"}, nil, "hunter2"},
		{"master key length", []string{"--master-key", key}, nil, key},
		{"master key encoding", nil, map[string]string{"SLUICE_MASTER_KEY": badB64}, "c2VjcmV0"},
		{"database password", []string{"--database", dbURL}, nil, "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.args, env(tt.vars))
			if err == nil {
				t.Fatal("Load accepted a bad secret")
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("error %q repeats the secret", err)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		if _, err := Load([]string{arg}, nil); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%s) error = %v, want flag.ErrHelp", arg, err)
		}
	}
	fs := Flags()
	for _, s := range settings {
		f := fs.Lookup(s.flag)
		if f == nil || !strings.Contains(f.Usage, s.env) || f.DefValue != s.def {
			t.Errorf("flag %s: %+v, want its usage naming %s and default %q", s.flag, f, s.env, s.def)
		}
	}
}

// A command line that cannot be read is a usage error; a bad value is not.
func TestUsageError(t *testing.T) {
	t.Parallel()
	var ue *UsageError
	for _, args := range [][]string{{"--no-such-flag"}, {"--addr"}, {"extra"}} {
		if _, err := Load(args, nil); !errors.As(err, &ue) {
			t.Errorf("Load(%q) error = %v, want a *UsageError", args, err)
		}
	}
	if _, err := Load([]string{"--addr", "8080"}, nil); err == nil || errors.As(err, &ue) {
		t.Errorf("a bad value: error %v, want one that is not a *UsageError", err)
	}
}

// A token of 32 characters or more is taken as given.
func TestAdminTokenLength(t *testing.T) {
	t.Parallel()
	token := strings.Repeat("a1", 16)
	if c := mustLoad(t, []string{"--admin-token", token}, nil); c.AdminToken != token {
		t.Errorf("AdminToken %q, want %q", c.AdminToken, token)
	}
	if c := mustLoad(t, nil, nil); c.AdminToken != "" {
		t.Errorf("unset AdminToken %q, want empty", c.AdminToken)
	}
}

func TestLogger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args       []string
		wantPrefix string
		wantDebug  bool
	}{
		{nil, "time=", false},
		{[]string{"--log-format", "json", "--log-level", "debug"}, `{"time":`, true},
	}
	for _, tt := range tests {
		c := mustLoad(t, tt.args, nil)
		var b bytes.Buffer
		l := c.Logger(&b)
		l.Debug("quiet")
		l.Info("hello", "event_id", "evt_1")
		out := b.String()
		if !strings.HasPrefix(out, tt.wantPrefix) || !strings.Contains(out, "evt_1") {
			t.Errorf("%q: log output %q, want prefix %q", tt.args, out, tt.wantPrefix)
		}
		if got := strings.Contains(out, "quiet"); got != tt.wantDebug {
			t.Errorf("%q: debug logged = %v, want %v", tt.args, got, tt.wantDebug)
		}
	}
}
