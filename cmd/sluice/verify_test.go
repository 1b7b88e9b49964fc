package main_test

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// `sluice verify` accepts what the Standard Webhooks library signs, and
// refuses a tampered body, a wrong secret and a stale timestamp with the
// reason and exit 1.
func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	secret, _ := newWhsec()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"invoice.paid","id":"inv_1"}`)
	// run signs signed with the library at ts and has sluice verify it as
	// if sent was received, checked under secret.
	run := func(signed, sent []byte, secret string, ts time.Time) (int, string) {
		sig, err := wh.Sign("msg_1", ts, signed)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(binary, "verify", "--secret", secret, "--id", "msg_1",
			"--timestamp", strconv.FormatInt(ts.Unix(), 10), "--signature", sig)
		cmd.Stdin = bytes.NewReader(sent)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run(body, body, secret, time.Now()); code != 0 || !strings.Contains(out, "verified") {
		t.Errorf("a genuine signature: exit %d, %s", code, out)
	}
	other, _ := newWhsec()
	for name, c := range map[string]struct {
		sent   []byte
		secret string
		ts     time.Time
		reason string
	}{
		"tampered body": {[]byte(`{"type":"invoice.refunded","id":"inv_1"}`), secret, time.Now(), "no signature matches"},
		"wrong secret":  {body, other, time.Now(), "no signature matches"},
		"stale":         {body, secret, time.Now().Add(-10 * time.Minute), "tolerance"},
	} {
		code, out := run(body, c.sent, c.secret, c.ts)
		if code != 1 || !strings.Contains(out, c.reason) {
			t.Errorf("%s: exit %d, %q; want 1 naming %q", name, code, out, c.reason)
		}
		if strings.Contains(out, secret) || strings.Contains(out, other) {
			t.Errorf("%s: the output shows a secret", name)
		}
	}
}

// `sluice verify --tolerance` widens the five minutes a timestamp may be
// off by, and narrows them.
func TestVerifyTolerance(t *testing.T) {
	t.Parallel()
	secret, _ := newWhsec()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"invoice.paid","id":"inv_1"}`)
	run := func(age time.Duration, extra ...string) (int, string) {
		ts := time.Now().Add(-age)
		sig, err := wh.Sign("msg_1", ts, body)
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"verify", "--secret", secret, "--id", "msg_1",
			"--timestamp", strconv.FormatInt(ts.Unix(), 10), "--signature", sig}, extra...)
		cmd := exec.Command(binary, args...)
		cmd.Stdin = bytes.NewReader(body)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	for _, c := range []struct {
		age   time.Duration
		flags []string
		code  int
		want  string
	}{
		{time.Hour, nil, 1, "tolerance"},
		{time.Hour, []string{"--tolerance", "2h"}, 0, "verified"},
		{time.Hour, []string{"--tolerance=61m"}, 0, "verified"},
		{time.Minute, []string{"--tolerance", "10s"}, 1, "tolerance"},
		{time.Minute, nil, 0, "verified"},
	} {
		if code, out := run(c.age, c.flags...); code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("signed %s ago, %v: exit %d, %q; want %d and %q", c.age, c.flags, code, out, c.code, c.want)
		}
	}
}
