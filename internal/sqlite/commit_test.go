package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/sqldb"
	"github.com/sluicehq/sluice/internal/testlog"
)

// A write that fails after changing rows leaves no trace, and the writes
// sharing its batch commit all the same, whichever position it has.
func TestCommitIsolatesAFailedWrite(t *testing.T) {
	for _, failing := range []int{0, 1, 2} {
		ctx := context.Background()
		s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "sluice.db")})
		if err != nil {
			t.Fatal(err)
		}
		runs := map[string]int{}
		op := func(name string, fail bool) *writeOp {
			return &writeOp{ctx: ctx, done: make(chan error, 1), fn: func(ctx context.Context) error {
				runs[name]++
				if _, err := s.stmts.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, 'x')`, "test."+name); err != nil {
					return err
				}
				if fail {
					return errors.New("failed after writing")
				}
				return nil
			}}
		}
		names := []string{"a", "b", "c"}
		batch := make([]*writeOp, len(names))
		for i, n := range names {
			batch[i] = op(n, i == failing)
		}
		// The writer goroutine is idle: no write was queued on this store.
		s.commit(batch)
		for i, o := range batch {
			if err := <-o.done; (err != nil) != (i == failing) {
				t.Fatalf("failing write %d: write %d returned %v", failing, i, err)
			}
		}
		got, err := sqldb.QueryStrings(ctx, s.read.Conn, `SELECT name FROM settings WHERE name LIKE 'test.%' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Delete(slices.Clone([]string{"test.a", "test.b", "test.c"}), failing, failing+1)
		if !slices.Equal(got, want) {
			t.Fatalf("failing write %d: committed %v, want %v", failing, got, want)
		}
		// The batch ran once as it was, and once more in savepoints from
		// the write that failed on (earlier writes ran again too).
		if runs[names[failing]] != 2 {
			t.Fatalf("failing write %d ran %d times, want 2", failing, runs[names[failing]])
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The writer waits for more writes to share a commit only after a busy
// commit, and only while they keep coming: never past a full batch, a gap
// of lingerGap with none, or linger in all.
func TestCollectLingersOnlyAfterABusyCommit(t *testing.T) {
	s := &Driver{ops: make(chan *writeOp), quit: make(chan struct{})}
	send := func(n int) {
		for range n {
			go func() { s.ops <- &writeOp{} }()
		}
	}
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	collect := func(last int) ([]*writeOp, time.Duration) {
		t.Helper()
		done := make(chan []*writeOp, 1)
		start := time.Now()
		go func() {
			batch, ok := s.collect(make([]*writeOp, last, maxBatch), wait)
			if !ok {
				batch = nil
			}
			done <- batch
		}()
		select {
		case batch := <-done:
			return batch, time.Since(start)
		case <-time.After(30 * time.Second):
			t.Fatalf("collect after a commit of %d writes is still waiting", last)
			return nil, 0
		}
	}
	const short = 20 * time.Millisecond

	// After a commit of fewer than lingerAfter writes the next write goes
	// at once, with no wait (the waits are an hour).
	s.linger, s.lingerGap = time.Hour, time.Hour
	send(1)
	if got, _ := collect(lingerAfter - 1); len(got) != 1 {
		t.Fatalf("collected %d writes, want 1", len(got))
	}
	// After a busy one, a full batch ends the wait.
	send(maxBatch)
	if got, _ := collect(lingerAfter); len(got) != maxBatch {
		t.Fatalf("collected %d writes, want a full batch of %d", len(got), maxBatch)
	}
	// So does a gap with no write.
	s.lingerGap = short
	send(1)
	if got, waited := collect(maxBatch); len(got) != 1 || waited < short {
		t.Errorf("collected %d writes in %s, want 1 after the gap, %s", len(got), waited, short)
	}
	// And the linger's end.
	s.linger, s.lingerGap = short, time.Hour
	send(1)
	if got, waited := collect(maxBatch); len(got) != 1 || waited < short {
		t.Errorf("collected %d writes in %s, want 1 after the linger, %s", len(got), waited, short)
	}
	close(s.quit)
	if got, _ := collect(0); got != nil {
		t.Errorf("collect on a closing store returned %d writes", len(got))
	}
}

// A commit that takes slowCommit or longer is logged, with the number of
// writes and how long it and its COMMIT statement took, before the writes
// return; faster ones are not.
func TestSlowCommitIsLogged(t *testing.T) {
	ctx := context.Background()
	var logs testlog.Buffer
	cfg := Config{Path: filepath.Join(t.TempDir(), "sluice.db"),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), slowCommit: time.Hour}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert := func(name string) {
		t.Helper()
		if err := s.write(ctx, func(ctx context.Context) error {
			_, err := s.stmts.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, 'x')`, name)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	insert("test.fast")
	if strings.Contains(logs.String(), "slow store commit") {
		t.Fatalf("a commit under the threshold was logged: %s", logs.String())
	}
	s.slowCommit = time.Nanosecond // read by the writer only after the next write is sent
	insert("test.slow")
	var line struct {
		Msg             string
		Writes          int
		Duration        time.Duration
		CommitStatement time.Duration `json:"commit_statement"`
	}
	for l := range strings.Lines(logs.String()) {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "slow store commit" {
			break
		}
	}
	if line.Msg != "slow store commit" || line.Writes != 1 || line.Duration <= 0 || line.CommitStatement <= 0 ||
		line.CommitStatement > line.Duration {
		t.Fatalf("slow commit line %+v in %s", line, logs.String())
	}
}
