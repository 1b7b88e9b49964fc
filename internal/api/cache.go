package api

import (
	"sync"
	"time"
)

// cacheTTL is how long a looked-up API key or ingest source is trusted
// without asking the store again. A key or source changed through another
// process (PostgreSQL) keeps its old form here for at most this long; one
// changed through this process is forgotten at once.
const cacheTTL = time.Second

// maxCached bounds a cache; when full it starts again empty.
const maxCached = 10000

// ttlCache remembers values by key for cacheTTL. Every request
// authenticates, and every ingest looks up its source: those store reads
// were a twentieth of a publish's CPU and most of an ingest's.
type ttlCache[V any] struct {
	mu      sync.Mutex
	entries map[string]cached[V]
}

type cached[V any] struct {
	value   V
	expires time.Time
}

func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *ttlCache[V]) put(key string, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCached {
		c.entries = make(map[string]cached[V])
	}
	c.entries[key] = cached[V]{value: v, expires: now.Add(cacheTTL)}
}

// forget drops every entry, after a change through this process.
func (c *ttlCache[V]) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
