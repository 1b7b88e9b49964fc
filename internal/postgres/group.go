package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// Group commit of new events. A new event's transaction is short, two
// round trips, and what bounds how many a second one process stores is
// the commit: every COMMIT waits for its WAL to be flushed, and under load
// the backends queue on that flush (wait events WALWrite and WALSync).
// So the events that wait at once share a transaction: a few committers
// each take the next event waiting and every other one waiting then (no
// lingering: a lone event goes at once, as before), read all their routes
// and subject keys in one round trip, plan each, and send all their rows
// with one COMMIT. Each event still answers as its own transaction would.
//
// What one event does wrong must not cost the others: an event whose plan
// fails is left out of its group with its error. When the group's
// statements or its COMMIT fail, every event of it runs again alone (its
// plan runs again, which plans allow), so that each gets its own answer:
// a dedup race lost, a subject key erased meanwhile, a deadlock to retry.
// A COMMIT whose answer was lost is in doubt for each event of the group,
// settled for each as for one alone (commit.go).

// Bounds of group commit.
const (
	// eventCommitters is how many group transactions run at once: enough
	// to keep one flushing while the next is planned and sent. With a
	// group's rows in one statement (grouprows.go), 4, 2 and 1 delivered
	// about 2,750, 3,150 and 3,100 events a second (e2e, one process, 3
	// interleaved runs each): fewer committers make larger groups.
	eventCommitters = 2
	// maxEventGroup is the most events one transaction carries.
	maxEventGroup = 32
	// groupTimeout bounds a group's transaction: no caller's context ends
	// it, since it is the other callers' too.
	groupTimeout = 30 * time.Second
)

// eventRequest is one caller's new event, waiting for a committer.
type eventRequest struct {
	ctx      context.Context
	tenantID string
	hashes   [][]byte
	plan     func(routes []*engine.DestinationRow, keys []engine.SubjectKeyRow) (*engine.EventRows, error)
	done     chan eventAnswer // buffered: the committer never waits on it
}

type eventAnswer struct {
	out *engine.EventInserted
	err error
}

// errRunAlone answers the events of a group whose transaction failed: each
// runs again in a transaction of its own.
var errRunAlone = errors.New("run the event's transaction alone")

// startCommitters starts the committers; stopCommitters ends them.
func (d *Driver) startCommitters() {
	d.eventRequests, d.committersQuit = make(chan *eventRequest), make(chan struct{})
	d.committers.Add(eventCommitters)
	for range eventCommitters {
		go d.commitEvents()
	}
}

func (d *Driver) stopCommitters() {
	d.stopOnce.Do(func() { close(d.committersQuit) })
	d.committers.Wait()
}

// createEventGrouped runs a new event's transaction once, in a group with
// others waiting at the same moment, or alone when the group's failed.
func (d *Driver) createEventGrouped(ctx context.Context, tenantID string, hashes [][]byte,
	plan func(routes []*engine.DestinationRow, keys []engine.SubjectKeyRow) (*engine.EventRows, error)) (*engine.EventInserted, error) {
	r := &eventRequest{ctx: ctx, tenantID: tenantID, hashes: hashes, plan: plan, done: make(chan eventAnswer, 1)}
	if d.hooks.eventWaiting != nil {
		d.hooks.eventWaiting()
	}
	select {
	case d.eventRequests <- r:
	case <-d.committersQuit:
		return nil, fmt.Errorf("begin: %w", errDriverClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("begin: %w", ctx.Err())
	}
	a := <-r.done
	if errors.Is(a.err, errRunAlone) {
		return d.createEventOnce(ctx, tenantID, hashes, plan)
	}
	return a.out, a.err
}

// errDriverClosed is the error of an event given to a closed driver.
var errDriverClosed = errors.New("the store is closed")

// commitEvents is a committer: it takes the next event waiting, with every
// other one waiting then, up to maxEventGroup, and stores them.
func (d *Driver) commitEvents() {
	defer d.committers.Done()
	for {
		var group []*eventRequest
		select {
		case r := <-d.eventRequests:
			group = append(group, r)
		case <-d.committersQuit:
			return
		}
	more:
		for len(group) < maxEventGroup {
			select {
			case r := <-d.eventRequests:
				group = append(group, r)
			default:
				break more
			}
		}
		if len(group) == 1 {
			r := group[0]
			out, err := d.createEventOnce(r.ctx, r.tenantID, r.hashes, r.plan)
			r.done <- eventAnswer{out, err}
			continue
		}
		d.commitGroup(group)
	}
}

// commitGroup stores a group's events in one transaction and answers each.
func (d *Driver) commitGroup(group []*eventRequest) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	answers, planned, err := d.createEventsOnce(ctx, group)
	doubt, inDoubt := errors.AsType[*commitInDoubt](err)
	for i, r := range group {
		switch {
		case inDoubt && answers[i].err == nil:
			r.done <- eventAnswer{err: &commitInDoubt{xid: doubt.xid, eventID: planned[i].Event.ID,
				observations: len(planned[i].Observations), err: doubt.err}}
		case err != nil && answers[i].err == nil:
			r.done <- eventAnswer{err: errRunAlone}
		default:
			r.done <- answers[i]
		}
	}
}

// createEventsOnce runs a group's transaction once: BEGIN with the read of
// every event's routes and subject keys, then every event's rows with
// COMMIT. answers holds each event's outcome, an error for one whose plan
// failed, and planned the rows of every other; err, the transaction's
// failure, concerns those others (a commitInDoubt carries no event's id).
func (d *Driver) createEventsOnce(ctx context.Context, group []*eventRequest) (answers []eventAnswer, planned []*engine.EventRows, err error) {
	answers = make([]eventAnswer, len(group))
	c, release, err := d.eventConn(ctx)
	if err != nil {
		return answers, nil, err
	}
	inDoubt := false
	defer func() { release(inDoubt) }()
	pg := c.Conn().PgConn()
	head := &pgx.Batch{}
	head.Queue("BEGIN")
	head.Queue(`SELECT pg_current_xact_id()::text::bigint`)
	// Each tenant's routes are read once, whatever its events in the group.
	routesOf := make(map[string][]*engine.DestinationRow)
	var tenants []string
	for _, r := range group {
		if _, seen := routesOf[r.tenantID]; !seen {
			routesOf[r.tenantID] = nil
			tenants = append(tenants, r.tenantID)
			head.Queue(d.read.RoutesQuery(), r.tenantID)
		}
	}
	for _, r := range group {
		if len(r.hashes) > 0 {
			head.Queue(subjectKeysQuery, r.tenantID, r.hashes)
		}
	}
	results := c.SendBatch(ctx, head)
	var xid uint64
	if _, err = results.Exec(); err == nil {
		err = results.QueryRow().Scan(&xid)
	}
	for _, t := range tenants {
		if err != nil {
			break
		}
		rows, qerr := results.Query()
		routesOf[t], err = sqldb.ScanRoutes(result{rows}, qerr)
	}
	keys := make([][]engine.SubjectKeyRow, len(group))
	for i, r := range group {
		if err == nil && len(r.hashes) > 0 {
			keys[i], err = scanSubjectKeys(results.Query())
		}
	}
	if cerr := results.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return answers, nil, fmt.Errorf("begin: %w", mapError(err))
	}

	planned = make([]*engine.EventRows, len(group))
	stored := false
	for i, r := range group {
		if planned[i], answers[i].err = r.plan(routesOf[r.tenantID], keys[i]); answers[i].err != nil {
			planned[i] = nil
			continue
		}
		stored = true
	}
	if !stored {
		return answers, planned, nil // every plan failed: nothing to store
	}
	b := d.groupBatch(planned)
	b.Queue("COMMIT")
	results = c.SendBatch(ctx, b)
	var outs []*engine.EventInserted
	if outs, err = readGroupRows(results, planned); err == nil {
		for i, out := range outs {
			if out != nil {
				answers[i].out = out
			}
		}
		err = readCommit(results)
	}
	results.Close()
	if err != nil {
		err = commitFailed(ctx, pg, err, xid, &engine.EventRows{})
		_, inDoubt = errors.AsType[*commitInDoubt](err)
		return answers, planned, err
	}
	return answers, planned, nil
}
