package db

import "context"

// Service is the tokenserver service name of Sync 1.5.
const Service = "sync-1.5"

// AnyNode, as the node of Users.AllocateUser, lets the store choose the
// node from its nodes table (multi-node setups).
const AnyNode = ""

// User is a tokenserver user record: one row of Mozilla's `users` table.
// A key change creates a new record, and so a new UID and an empty storage.
type User struct {
	UID   UID
	Email string
	// Generation and KeysChangedAt are FxA's millisecond high-water marks;
	// 0 means none was ever seen.
	Generation    int64
	KeysChangedAt int64
	// ClientState is lower-case hex (or "") identifying the sync key.
	ClientState string
	// CreatedAt and ReplacedAt are epoch milliseconds; ReplacedAt is 0 for
	// the current record.
	CreatedAt  int64
	ReplacedAt int64
	// Node is the storage node URL the user is assigned to; "" when its
	// node row is gone.
	Node string
	// NodeDowned reports that the node is downed (it takes no newcomers).
	NodeDowned bool
	// OldClientStates lists client states of the user's earlier records;
	// they must never be accepted again.
	OldClientStates []string
}

// Users is the tokenserver's user and node store, in Mozilla's `services`,
// `nodes` and `users` tables. Database failures are wrapped ErrUnavailable.
type Users interface {
	// EnsureNode makes sure the service and the node URL exist (creating
	// them on first start) and returns nothing else; safe to call at every
	// start from several processes.
	EnsureNode(ctx context.Context, service, node string, capacity int64) error
	// GetUser returns the current record for email with OldClientStates
	// filled, or ErrNotFound.
	GetUser(ctx context.Context, service, email string) (User, error)
	// AllocateUser creates the first record for email on node, unless a
	// current record already exists (a concurrent request won), in which
	// case that one is returned unchanged. Node AnyNode lets the store
	// pick the node: the only node of the service, or among several the
	// least loaded that accepts newcomers (Mozilla's get_best_node);
	// ErrUnavailable when none does.
	AllocateUser(ctx context.Context, service, email string, generation, keysChangedAt int64, clientState, node string) (User, error)
	// UpdateUser raises the generation and keys_changed_at of uid's
	// record in place; values never move backwards.
	UpdateUser(ctx context.Context, uid UID, generation, keysChangedAt int64) error
	// ReplaceUser records a key change: a new record (new UID) with the new
	// client state and marks every older record replaced. The new record
	// keeps the old one's node, unless that node row is gone: then it goes
	// where AllocateUser with AnyNode would put it (or stays when no node
	// accepts it). It fails with
	// ErrStaleClientState when clientState was used before.
	ReplaceUser(ctx context.Context, old User, generation, keysChangedAt int64, clientState string) (User, error)
	// CountUsers counts distinct emails with a current record.
	CountUsers(ctx context.Context, service string) (int64, error)
	// ReassignUser gives an account whose current record is replaced (its
	// node was unassigned) or has no node any more a new record on the
	// node AllocateUser with AnyNode would pick, with the same
	// generation, keys_changed_at and client state: a new uid and an
	// empty storage, as Mozilla's tokenserver does. When a concurrent
	// request has done it first, that record is returned.
	// ErrUnavailable when no node accepts the account.
	ReassignUser(ctx context.Context, old User) (User, error)
	// NodeStatus returns what a storage node needs to know of its own row:
	// Backoff (seconds, 0 for none) and Downed. A node not in the table
	// gets the zero Node.
	NodeStatus(ctx context.Context, service, url string) (Node, error)
	// Replaced reports whether uid's record is marked replaced: by
	// syncserver nodes down (its account moves to another node at its
	// next token request), a key change or a retirement. A downed storage
	// node turns such a uid's client away with 401, so that Firefox asks
	// the tokenserver for its new node at once. An unknown uid is not.
	Replaced(ctx context.Context, uid UID) (bool, error)
}
