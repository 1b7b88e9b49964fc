package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// maxBatch bounds how many writes share one transaction, so one commit's
// latency stays bounded under load.
const maxBatch = 256

// A commit costs about as much CPU (WAL frames, fsync) for one write as for
// fifty, so under load the writer waits a little for more writes to share
// it: once the last commit carried at least lingerAfter writes, up to
// linger, ending early when none has come for lingerGap. A lone write, the
// common case under light load, never waits. Measured with `sluice bench`:
// 500µs took e2e from about 7,200 to 8,100 delivered events a second; 300µs
// gave 7,800, and 2ms or 5ms were slower than none.
const (
	linger      = 500 * time.Microsecond
	lingerGap   = 100 * time.Microsecond
	lingerAfter = 4
)

// slowCommit is how long a group commit may take before the writer logs
// it: every write waiting on it, every acknowledgement, waits as long.
// With durable commits the disk's fsync is the usual cause.
const slowCommit = 100 * time.Millisecond

// writeOp is one caller's write waiting for the writer goroutine.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context) error
	done chan error
	// checkpoint asks for the write-ahead log to be checkpointed and
	// truncated once the transaction the write joined has committed.
	checkpoint bool
}

var errClosed = errors.New("sqlite: store closed")

// write runs fn inside the writer's current transaction and returns once that
// transaction has committed (or fn's savepoint was rolled back).
func (d *Driver) write(ctx context.Context, fn func(ctx context.Context) error) error {
	return d.submit(ctx, &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// submit hands op to the writer and waits for its outcome.
func (d *Driver) submit(ctx context.Context, op *writeOp) error {
	select {
	case d.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.quit:
		return errClosed
	}
	return <-op.done
}

func (d *Driver) runWriter() {
	defer close(d.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	wait := time.NewTimer(d.linger)
	wait.Stop()
	for {
		var ok bool
		if batch, ok = d.collect(batch, wait); !ok {
			return
		}
		d.commit(batch)
	}
}

// collect waits for the next write and returns the batch of writes to
// commit with it, reusing batch's array, which holds the last commit's
// writes; false once the store is closing. After a commit of at least
// lingerAfter writes it waits up to d.linger for more.
func (d *Driver) collect(batch []*writeOp, wait *time.Timer) ([]*writeOp, bool) {
	busy := len(batch) >= lingerAfter
	select {
	case op := <-d.ops:
		batch = append(batch[:0], op)
	case <-d.quit:
		return nil, false
	}
	batch = d.gather(batch)
	if !busy {
		return batch, true
	}
	return d.lingerFor(batch, wait), true
}

// gather adds the writes already waiting to batch, until it is full.
func (d *Driver) gather(batch []*writeOp) []*writeOp {
	for len(batch) < maxBatch {
		select {
		case op := <-d.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// lingerFor adds writes to batch as they come, for up to d.linger, until it
// is full or none has come for d.lingerGap: once every caller is waiting
// on this commit, waiting longer only adds latency.
func (d *Driver) lingerFor(batch []*writeOp, wait *time.Timer) []*writeOp {
	defer wait.Stop()
	deadline := time.Now().Add(d.linger)
	for len(batch) < maxBatch {
		gap := min(d.lingerGap, time.Until(deadline))
		if gap <= 0 {
			return batch
		}
		wait.Reset(gap)
		select {
		case op := <-d.ops:
			batch = append(batch, op)
		case <-wait.C:
			return batch
		}
	}
	return batch
}

// commit runs a batch of writes in one transaction. Each write's function
// runs with its caller's context values but never its cancellation: an
// interrupted statement would roll back the whole shared transaction.
//
// The batch first runs as it is: when every write succeeds, the common
// case, that is all. When one fails, its partial changes cannot be undone
// alone, so the transaction is rolled back and the batch runs again with
// each write in a savepoint, which costs two statements a write. A write's
// function may therefore run twice; it must keep no state but its results.
func (d *Driver) commit(batch []*writeOp) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	live := 0
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		live++
	}
	var (
		shared    error
		committed time.Duration // the COMMIT statement's share
	)
	start := time.Now()
	if live > 0 {
		var again bool
		if again, committed, shared = d.runBatch(ctx, batch, errs, live, false); again {
			_, committed, shared = d.runBatch(ctx, batch, errs, live, true)
		}
	}
	d.checkpointFor(ctx, batch, errs, shared)
	if took := time.Since(start); took >= d.slowCommit {
		// Before the replies, so that the line is out when the writes return.
		d.logger.Warn("slow store commit", "writes", len(batch), "duration", took, "commit_statement", committed)
	}
	for i, op := range batch {
		if shared != nil && errs[i] == nil {
			errs[i] = shared
		}
		op.done <- errs[i]
	}
}

// runBatch runs the live writes of batch (those without an error in errs)
// in one transaction and commits it, recording each write's error in errs.
// Without savepoints, a failure among several writes rolls everything back
// and asks to run again (with savepoints). It returns how long the COMMIT
// statement took (WAL frames, fsync, any checkpoint), and the error every
// write shares, such as a failed commit.
func (d *Driver) runBatch(ctx context.Context, batch []*writeOp, errs []error, live int, savepoints bool) (again bool, committed time.Duration, shared error) {
	if _, err := d.stmts.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, 0, fmt.Errorf("begin: %w", err)
	}
	ok := 0
	for i, op := range batch {
		if errs[i] != nil {
			continue
		}
		opCtx := context.WithoutCancel(op.ctx)
		if !savepoints {
			if errs[i] = op.fn(opCtx); errs[i] == nil {
				ok++
				continue
			}
			if live == 1 {
				break
			}
			d.rollback(ctx)
			errs[i] = nil // it runs again, in its savepoint
			return true, 0, nil
		}
		if _, err := d.stmts.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			errs[i] = fmt.Errorf("savepoint: %w", err)
			continue
		}
		if errs[i] = op.fn(opCtx); errs[i] != nil {
			_, _ = d.stmts.ExecContext(ctx, "ROLLBACK TO w")
		} else {
			ok++
		}
		if _, err := d.stmts.ExecContext(ctx, "RELEASE w"); err != nil {
			d.rollback(ctx)
			return false, 0, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if ok == 0 {
		d.rollback(ctx)
		return false, 0, nil
	}
	start := time.Now()
	_, err := d.stmts.ExecContext(ctx, "COMMIT")
	committed = time.Since(start)
	if err != nil {
		d.rollback(ctx)
		return false, committed, fmt.Errorf("commit: %w", err)
	}
	return false, committed, nil
}

// checkpointFor checkpoints and truncates the write-ahead log when a write
// of the committed batch asked for it, recording the outcome as theirs.
func (d *Driver) checkpointFor(ctx context.Context, batch []*writeOp, errs []error, shared error) {
	asked := false
	for i, op := range batch {
		asked = asked || op.checkpoint && errs[i] == nil
	}
	if !asked || shared != nil {
		return
	}
	err := d.checkpoint(ctx)
	for i, op := range batch {
		if op.checkpoint && errs[i] == nil {
			errs[i] = err
		}
	}
}

// checkpoint copies every page of the write-ahead log into the database
// and truncates the log to nothing. It waits (busy_timeout) for readers
// still on an older snapshot; one that outlasts the wait leaves the log
// in place and is an error.
func (d *Driver) checkpoint(ctx context.Context) error {
	var busy, logPages, done int
	err := d.stmts.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done)
	switch {
	case err != nil:
		return fmt.Errorf("checkpoint: %w", err)
	case busy != 0:
		return errCheckpointBusy
	}
	return nil
}

var errCheckpointBusy = errors.New("sqlite: checkpoint incomplete: a reader held an old snapshot")

func (d *Driver) rollback(ctx context.Context) {
	d.tx.forgetAll()
	if _, err := d.stmts.ExecContext(ctx, "ROLLBACK"); err != nil {
		d.logger.Error("sqlite rollback failed", "error", err)
	}
}
