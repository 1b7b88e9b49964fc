package webhook

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// Status is what a Store knows of a webhook-id.
type Status int

// The statuses Store.Reserve returns.
const (
	// StatusNew: the id was not known; it is now reserved for the caller,
	// who handles the message and then completes or releases it.
	StatusNew Status = iota
	// StatusInFlight: another request holds the id and is handling it.
	StatusInFlight
	// StatusDone: the id was handled already; this is a duplicate.
	StatusDone
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusNew:
		return "new"
	case StatusInFlight:
		return "in flight"
	case StatusDone:
		return "done"
	}
	return "unknown"
}

// Store remembers which webhook-ids are being handled and which were
// handled, so Handler passes each message to its handler once. A store
// shared by several processes (a database table with the id as its key, a
// cache with set-if-absent) lets them all drop one another's duplicates;
// MemoryStore serves one process.
type Store interface {
	// Reserve holds id for the caller for at most lease, unless it is held
	// or done already. It returns StatusNew when the caller now holds it,
	// otherwise StatusInFlight or StatusDone. It must be atomic: of
	// concurrent calls for one id, one gets StatusNew.
	Reserve(ctx context.Context, id string, lease time.Duration) (Status, error)
	// Complete records id as done, remembered for ttl from now.
	Complete(ctx context.Context, id string, ttl time.Duration) error
	// Release drops the caller's reservation of id, so that the sender's
	// next attempt is handled. An id already done stays done.
	Release(ctx context.Context, id string) error
}

// DefaultMaxEntries bounds a MemoryStore whose MaxEntries is zero: at a
// few hundred bytes an id, some tens of megabytes.
const DefaultMaxEntries = 100_000

// ErrStoreFull is returned by MemoryStore.Reserve when every entry is a
// reservation still in flight, so none can make room.
var ErrStoreFull = errors.New("webhook: dedup store full of messages in flight")

// MemoryStore is a Store in this process's memory, bounded in size: when
// full it forgets the id that was completed longest ago. Its zero value is
// ready to use; it is safe for concurrent use. What it remembers is lost
// when the process stops.
type MemoryStore struct {
	// MaxEntries bounds the ids remembered; DefaultMaxEntries when zero.
	MaxEntries int
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *memoryEntry
	// order holds the entries by the time they were last set, oldest first:
	// expiry sweeps and eviction start at its front.
	order list.List
}

type memoryEntry struct {
	id      string
	status  Status // StatusInFlight or StatusDone
	expires time.Time
}

// Reserve implements Store. It returns ErrStoreFull when no entry can be
// forgotten to make room.
func (s *MemoryStore) Reserve(_ context.Context, id string, lease time.Duration) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if el, ok := s.entries[id]; ok {
		e := el.Value.(*memoryEntry)
		if now.Before(e.expires) {
			return e.status, nil
		}
		s.remove(el)
	}
	if err := s.set(id, StatusInFlight, now.Add(lease), now); err != nil {
		return 0, err
	}
	return StatusNew, nil
}

// Complete implements Store. It returns ErrStoreFull when id is no longer
// reserved and no entry can be forgotten to make room.
func (s *MemoryStore) Complete(_ context.Context, id string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if el, ok := s.entries[id]; ok {
		s.remove(el)
	}
	return s.set(id, StatusDone, now.Add(ttl), now)
}

// Release implements Store; it never fails.
func (s *MemoryStore) Release(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[id]; ok && el.Value.(*memoryEntry).status == StatusInFlight {
		s.remove(el)
	}
	return nil
}

// Len returns how many ids the store holds, expired ones not yet swept
// included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

func (s *MemoryStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// set adds an entry for id, which is not in the store, making room first.
func (s *MemoryStore) set(id string, status Status, expires, now time.Time) error {
	if s.entries == nil {
		s.entries = make(map[string]*list.Element)
	}
	s.sweep(now)
	limit := s.MaxEntries
	if limit <= 0 {
		limit = DefaultMaxEntries
	}
	if len(s.entries) >= limit && !s.evict() {
		return ErrStoreFull
	}
	s.entries[id] = s.order.PushBack(&memoryEntry{id: id, status: status, expires: expires})
	return nil
}

// sweep forgets the expired entries at the front of the order. Entries set
// for different durations are not in expiry order, so some expired ones
// may stay behind a live one; lookups ignore them and eviction takes them.
func (s *MemoryStore) sweep(now time.Time) {
	for el := s.order.Front(); el != nil; el = s.order.Front() {
		if now.Before(el.Value.(*memoryEntry).expires) {
			return
		}
		s.remove(el)
	}
}

// evict forgets the oldest done entry, and reports whether there was one.
// Reservations in flight are kept: forgetting one would let a duplicate
// through while the first is still being handled.
func (s *MemoryStore) evict() bool {
	for el := s.order.Front(); el != nil; el = el.Next() {
		if el.Value.(*memoryEntry).status == StatusDone {
			s.remove(el)
			return true
		}
	}
	return false
}

func (s *MemoryStore) remove(el *list.Element) {
	delete(s.entries, el.Value.(*memoryEntry).id)
	s.order.Remove(el)
}
