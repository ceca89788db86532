package sqldb

import "sync"

// maxCachedNames bounds the collection-name cache. Real users have a few
// dozen collections; the bound only stops a client inventing names from
// growing memory (uncached names are still found, in the database).
const maxCachedNames = 10000

type nameID struct {
	name string
	id   int64
}

// nameCache maps collection names to ids. Names are global and never
// deleted or renumbered, so an entry read from a committed row stays true
// for every process sharing the database; a miss is asked of the database.
type nameCache struct {
	mu  sync.RWMutex
	ids map[string]int64
}

func newNameCache() *nameCache { return &nameCache{ids: make(map[string]int64)} }

func (c *nameCache) get(name string) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.ids[name]
	return id, ok
}

func (c *nameCache) add(name string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ids) < maxCachedNames {
		c.ids[name] = id
	}
}

func (c *nameCache) addAll(names []nameID) {
	for _, n := range names {
		c.add(n.name, n.id)
	}
}
