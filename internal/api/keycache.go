package api

import (
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// keyCacheTTL is how long an authenticated key is trusted without asking
// the store again. A key deleted through another process (PostgreSQL)
// keeps working here for at most this long; one deleted through this
// process stops at once.
const keyCacheTTL = time.Second

// maxCachedKeys bounds the cache; when full it starts again empty.
const maxCachedKeys = 10000

// keyCache remembers the keys of recently used tokens, by token hash. Every
// request authenticates, and the store lookup was about a twentieth of a
// publish's CPU; a hot token is now looked up once a second.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	key     *sluice.APIKey
	expires time.Time
}

func (c *keyCache) get(hash []byte, now time.Time) (*sluice.APIKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.keys[string(hash)]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.key, true
}

func (c *keyCache) put(hash []byte, key *sluice.APIKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[string]cachedKey)
	}
	c.keys[string(hash)] = cachedKey{key: key, expires: now.Add(keyCacheTTL)}
}

// forget drops every cached key, after a key was deleted.
func (c *keyCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.keys)
}
