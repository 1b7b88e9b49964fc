package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Flags may come before, between and after the arguments; "--" ends them.
func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	c := &command{name: "test"}
	tests := []struct {
		args     []string
		wantArgs []string
		wantS    string
		wantB    bool
	}{
		{[]string{"--s", "x", "file"}, []string{"file"}, "x", false},
		{[]string{"file", "--s", "x", "--b"}, []string{"file"}, "x", true},
		{[]string{"a", "--b", "b", "--s=y", "c"}, []string{"a", "b", "c"}, "y", true},
		{[]string{"-", "--s", "x"}, []string{"-"}, "x", false},
		{[]string{"a", "--", "--s", "x"}, []string{"a", "--s", "x"}, "", false},
		{nil, nil, "", false},
	}
	for _, tt := range tests {
		fs := c.flagSet()
		s := fs.String("s", "", "")
		b := fs.Bool("b", false, "")
		got, err := c.parse(fs, tt.args, io.Discard)
		if err != nil || !slices.Equal(got, tt.wantArgs) || *s != tt.wantS || *b != tt.wantB {
			t.Errorf("parse(%q) = %q, s=%q b=%v, %v; want %q, s=%q b=%v",
				tt.args, got, *s, *b, err, tt.wantArgs, tt.wantS, tt.wantB)
		}
	}
}

// -h prints the usage to stdout and is flag.ErrHelp; a bad flag is a usage
// error naming the flag as typed in the docs.
func TestParseHelpAndErrors(t *testing.T) {
	t.Parallel()
	c := &command{name: "test", args: "[flags] FILE", about: "Does a test.", examples: "sluice test x"}
	fs := c.flagSet()
	fs.Duration("wait", time.Minute, "how long to `wait`")
	var out bytes.Buffer
	if _, err := c.parse(fs, []string{"file", "--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"usage: sluice test [flags] FILE\n", "Does a test.", "  --wait wait\n      how long to wait (default 1m0s)\n", "examples:\n  sluice test x"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	for args, want := range map[string]string{
		"--nope":      "unknown flag --nope",
		"--wait":      "flag needs an argument: --wait",
		"--wait=soon": `invalid value "soon" for flag --wait`,
	} {
		fs := c.flagSet()
		fs.Duration("wait", 0, "")
		_, err := c.parse(fs, []string{args}, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || ue.cmd != "test" || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a usage error of test containing %q", args, err, want)
		}
	}
}

// fakeTTY is a reader that says it is a character device, as a terminal
// does.
type fakeTTY struct{ io.Reader }

func (fakeTTY) Stat() (os.FileInfo, error) { return ttyInfo{}, nil }

type ttyInfo struct{ os.FileInfo }

func (ttyInfo) Mode() fs.FileMode { return fs.ModeDevice | fs.ModeCharDevice | 0o620 }

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "body"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, c := range map[string]struct {
		r    io.Reader
		want bool
	}{
		"a terminal":   {fakeTTY{strings.NewReader("")}, true},
		"/dev/null":    {null, false},
		"a file":       {file, false},
		"a pipe or so": {strings.NewReader("{}"), false},
	} {
		if got := isTerminal(c.r); got != c.want {
			t.Errorf("%s: isTerminal %v, want %v", name, got, c.want)
		}
	}
}

// Without a file, `sluice send` refuses to wait on a terminal; with "-" it
// reads it. An empty body is refused. Each is a usage error, before any
// request.
func TestSendBodyRules(t *testing.T) {
	t.Parallel()
	flags := []string{"--source-url", "http://127.0.0.1:1/in/src_x"}
	var ue *usageError
	err := Send(context.Background(), flags, fakeTTY{strings.NewReader(`{"a":1}`)}, io.Discard, io.Discard)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "give a FILE, or - to read standard input") {
		t.Errorf("no file on a terminal: %v, want a usage error asking for FILE or -", err)
	}
	err = Send(context.Background(), append(flags, "-"), fakeTTY{strings.NewReader("")}, io.Discard, io.Discard)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "standard input is empty") {
		t.Errorf("- and an empty terminal: %v, want a usage error for the empty body", err)
	}
	// Past the body checks it posts: to a closed port here, an error that
	// is not a usage error.
	err = Send(context.Background(), append(flags, "-"), fakeTTY{strings.NewReader(`{"a":1}`)}, io.Discard, io.Discard)
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "post") {
		t.Errorf("- and a body typed on a terminal: %v, want the post to fail", err)
	}
}

// verify reads the body from standard input, never waiting on a terminal,
// and takes a positive tolerance; anything else is a usage error.
func TestVerifyUsageErrors(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		args  []string
		stdin io.Reader
	}{
		"a terminal":     {nil, fakeTTY{strings.NewReader("")}},
		"zero tolerance": {[]string{"--tolerance", "0s"}, strings.NewReader("{}")},
		"an argument":    {[]string{"body.json"}, strings.NewReader("{}")},
	} {
		var ue *usageError
		if err := Verify(c.args, c.stdin, io.Discard, io.Discard); !errors.As(err, &ue) {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}
