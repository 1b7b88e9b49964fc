package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is what a subcommand's -h shows, and the name its usage errors
// point to.
type command struct {
	name     string // as typed after sluice: "send", "keys rotate"
	args     string // what follows the name: "[flags] FILE|-"
	about    string // what it does; a paragraph or more
	examples string // shell lines, each with its comment
}

// flagSet returns an empty flag set for the command that prints nothing
// itself: parse prints the usage and Main the errors.
func (c *command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse reads args into fs, accepting flags before, between and after the
// other arguments (which it returns, in order); everything after "--" is an
// argument. On -h or --help it prints the usage to stdout and returns
// flag.ErrHelp; a flag it cannot read is a *usageError.
func (c *command) parse(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			c.printUsage(stdout, fs)
			return nil, err
		} else if err != nil {
			return nil, c.usageError(dashDash(err))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// printUsage writes the synopsis, the description, every flag with its
// default, and the examples.
func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.TrimSpace("sluice "+c.name+" "+c.args), strings.TrimSpace(c.about))
	if fs != nil {
		printFlags(w, fs)
	}
	if c.examples != "" {
		fmt.Fprintf(w, "\nexamples:\n%s\n", indent(strings.TrimSpace(c.examples), "  "))
	}
}

// printFlags lists fs's flags the way the docs write them, --name, with the
// value's kind and any default that is not the zero value.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "\nflags:")
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if kind != "" {
			fmt.Fprintf(w, " %s", kind)
		}
		fmt.Fprintf(w, "\n      %s", usage)
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintln(w, "  -h, --help\n      print this usage")
}

// dashDash rewrites the flag package's errors, which name a flag with one
// dash whatever was typed, to name it as the usage and the docs do.
func dashDash(err error) error {
	msg := err.Error()
	for _, p := range []struct{ from, to string }{
		{"flag provided but not defined: -", "unknown flag --"},
		{"flag needs an argument: -", "flag needs an argument: --"},
		{" for flag -", " for flag --"},
	} {
		if i := strings.Index(msg, p.from); i >= 0 {
			return errors.New(msg[:i] + p.to + msg[i+len(p.from):])
		}
	}
	return err
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// usageError is a command line a subcommand cannot act on: Main prints it
// with the way to its usage and exits 2.
type usageError struct {
	cmd string // as typed after sluice: "send", "keys rotate"
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func (c *command) usageError(err error) error { return &usageError{cmd: c.name, err: err} }

func (c *command) usageErrorf(format string, args ...any) error {
	return c.usageError(fmt.Errorf(format, args...))
}

// fromEnv gives each flag in vars (flag name → variable) that the command
// line left out the value of its environment variable, if set. Flags take
// their variables here rather than as defaults so that -h never shows a
// secret from the environment.
func fromEnv(fs *flag.FlagSet, vars map[string]string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, env := range vars {
		if v := os.Getenv(env); v != "" && !given[name] {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	return nil
}

// isTerminal reports whether r is an interactive terminal, so that a
// command waiting for a body on it would wait for a person who does not
// know it is expected. The standard library cannot ask the terminal
// driver, so this takes a character device other than the null device
// for one: /dev/null, which tests and services give as standard input,
// reads as empty instead.
func isTerminal(r io.Reader) bool {
	f, ok := r.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
