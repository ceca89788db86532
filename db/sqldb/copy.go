package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"syncserver/db"
)

// Copying a whole database to another backend (`syncserver migrate-db`).
//
// Both stores are opened, and so migrated, by this syncserver: they have
// the same tables. Every row of every table below is read in one read
// transaction of the source (a consistent snapshot, even if a server
// still writes) and written to the target in transactions of a few
// hundred rows. Ids are copied as they are, uids included, so every
// account keeps its storage and every old client state stays refused;
// the target's id generators are then moved past them.

// copyTable is a table Copy copies: its columns' kinds (text, binary or
// integer, all nullable as far as copying goes) and the id column whose
// generator must be moved past the copied ids, if any.
type copyTable struct {
	name string
	text []string // the text columns; every other column is an integer
	blob []string // the binary columns (hashes, salts, keys), copied byte for byte
	seq  string
}

// CopyTables lists the tables Copy copies, in the order it copies them.
// Every table of the schema but syncserver_schema must be here (a test
// checks it against the sqlite schema).
func CopyTables() []string {
	var names []string
	for _, t := range copyTables() {
		names = append(names, t.name)
	}
	return names
}

func copyTables() []copyTable {
	return []copyTable{
		{name: "settings", text: []string{"name", "value"}},
		{name: "services", text: []string{"service", "pattern"}, seq: "id"},
		{name: "nodes", text: []string{"node"}, seq: "id"},
		{name: "users", text: []string{"email", "client_state"}, seq: "uid"},
		{name: "user_quotas", text: []string{"email"}},
		{name: "collections", text: []string{"name"}, seq: "collectionid"},
		{name: "user_meta"},
		{name: "user_collections"},
		{name: "bso", text: []string{"id", "payload"}},
		{name: "batch_uploads"},
		{name: "batch_upload_items", text: []string{"id", "payload"}},
		// The built-in accounts (migration 7). Secrets are hashes at
		// rest, so a copy is as safe as the source.
		{name: "accounts_users", text: []string{"uid", "email", "client_salt", "locale"},
			blob: []string{"auth_salt", "verify_hash", "wrap_wrap_kb", "ka"}},
		{name: "accounts_tokens", text: []string{"kind", "uid", "bundle", "user_agent", "device_id"},
			blob: []string{"id_hash", "hmac_key"}},
		{name: "accounts_codes", text: []string{"client_id", "uid", "scope", "challenge", "keys_jwe"},
			blob: []string{"hash", "session_id_hash"}},
		{name: "accounts_refresh", text: []string{"client_id", "uid", "scope", "device_id"},
			blob: []string{"hash", "session_id_hash"}},
		{name: "accounts_devices", text: []string{"uid", "id", "name", "type", "available_commands",
			"push_callback", "push_public_key", "push_auth_key"}, blob: []string{"credential_hash"}},
		{name: "accounts_commands", text: []string{"uid", "target_device_id", "command", "payload", "sender"}},
		{name: "accounts_invites", text: []string{"email"}, blob: []string{"hash"}},
		{name: "accounts_keys", blob: []string{"jwk"}, seq: "id"},
	}
}

// Copy flushes a batch of rows at copyRows rows or copyBytes bytes of
// text, whichever comes first: well under every database's limit on bound
// parameters and MySQL's max_allowed_packet (16 MiB by default).
const (
	copyRows  = 500
	copyBytes = 4 << 20
)

// CopyProgress is what Copy reports as it goes: rows of Table copied so
// far, out of Total.
type CopyProgress struct {
	Table       string
	Rows, Total int64
}

// TableCount is one table's rows in the source and, once copied, in the
// target.
type TableCount struct {
	Table          string
	Source, Target int64
}

// LegacyUsers reports whether the users table still has the legacy
// single-node layout: Users().EnsureNode, which knows the node URL,
// converts it.
func (s *Store) LegacyUsers() bool { return s.usersLegacy.Load() }

// Counts returns the number of rows of each table Copy copies.
func (s *Store) Counts(ctx context.Context) ([]TableCount, error) {
	var out []TableCount
	err := s.read(ctx, func(q *querier) error {
		var err error
		out, err = s.counts(q)
		return err
	})
	return out, err
}

func (s *Store) counts(q *querier) ([]TableCount, error) {
	var out []TableCount
	for _, t := range copyTables() {
		var n int64
		if err := q.scan("SELECT COUNT(*) FROM "+t.name, nil, &n); err != nil {
			return nil, err
		}
		out = append(out, TableCount{Table: t.name, Source: n})
	}
	return out, nil
}

// Clear deletes every row of the tables Copy copies (migrate-db --force),
// in one transaction.
func (s *Store) Clear(ctx context.Context) error {
	return s.write(ctx, func(q *querier) error {
		tables := copyTables()
		for i := len(tables) - 1; i >= 0; i-- {
			if _, err := q.exec("DELETE FROM " + tables[i].name); err != nil {
				return err
			}
		}
		return nil
	})
}

// CopyTo copies every row of s into dst, which should be empty (see
// Counts and Clear), reporting progress as it goes, then checks that dst
// holds as many rows of each table as s had and returns the counts.
func (s *Store) CopyTo(ctx context.Context, dst *Store, progress func(CopyProgress)) ([]TableCount, error) {
	if s.usersLegacy.Load() {
		return nil, errors.New("the source's users table still has the legacy single-node layout: " +
			"start syncserver on it once, or give the node URL, to convert it first")
	}
	if progress == nil {
		progress = func(CopyProgress) {}
	}
	var counts []TableCount
	maxIDs := map[string]int64{}
	err := s.read(ctx, func(q *querier) error {
		var err error
		if counts, err = s.counts(q); err != nil {
			return err
		}
		for i, t := range copyTables() {
			top, err := s.copyTable(q, dst, t, counts[i].Source, progress)
			if err != nil {
				return fmt.Errorf("copying %s: %w", t.name, err)
			}
			maxIDs[t.name] = top
		}
		// Storage of uids without a users row (left by key changes
		// whose rows were purged) must not be handed out again either.
		var orphan sql.NullInt64
		err = q.scan(`SELECT MAX(m) FROM (
			SELECT MAX(userid) AS m FROM user_collections
			UNION ALL SELECT MAX(userid) AS m FROM bso
			UNION ALL SELECT MAX(userid) AS m FROM user_meta
			UNION ALL SELECT MAX(userid) AS m FROM batch_uploads) x`, nil, &orphan)
		maxIDs["users"] = max(maxIDs["users"], orphan.Int64)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = dst.write(ctx, func(q *querier) error {
		for _, t := range copyTables() {
			if t.seq == "" || maxIDs[t.name] == 0 {
				continue
			}
			if err := dst.d.BumpSequence(q.ctx, q.tx, t.name, t.seq, maxIDs[t.name]); err != nil {
				return q.fail(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("moving the target's id generators past the copied ids: %w", err)
	}
	after, err := dst.Counts(ctx)
	if err != nil {
		return nil, err
	}
	var wrong []string
	for i := range counts {
		counts[i].Target = after[i].Source
		if counts[i].Target != counts[i].Source {
			wrong = append(wrong, fmt.Sprintf("%s: %d rows copied of %d", counts[i].Table, counts[i].Target, counts[i].Source))
		}
	}
	if len(wrong) > 0 {
		return counts, fmt.Errorf("%w: the target does not hold what the source does: %s", db.ErrUnavailable, strings.Join(wrong, "; "))
	}
	return counts, nil
}

// copyTable streams one table into dst and returns the highest value of
// its id column.
func (s *Store) copyTable(q *querier, dst *Store, t copyTable, total int64, progress func(CopyProgress)) (int64, error) {
	srcCols, err := s.d.TableColumns(q.ctx, q.tx, t.name)
	if err != nil {
		return 0, q.fail(err)
	}
	var dstCols []string
	err = dst.read(q.ctx, func(dq *querier) error {
		dstCols, err = dst.d.TableColumns(dq.ctx, dq.tx, t.name)
		return dq.fail(err)
	})
	if err != nil {
		return 0, err
	}
	var cols []string
	for _, c := range dstCols {
		if slices.Contains(srcCols, c) {
			cols = append(cols, c)
		}
	}
	progress(CopyProgress{Table: t.name, Total: total})
	if total == 0 {
		return 0, nil
	}
	rows, err := q.query("SELECT " + strings.Join(cols, ", ") + " FROM " + t.name)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		batch      []any
		n, done    int64
		bytes, top int64
	)
	seq := slices.Index(cols, t.seq)
	insert := "INSERT INTO " + t.name + " (" + strings.Join(cols, ", ") + ") VALUES "
	row := "(" + placeholders(len(cols)) + ")"
	flush := func() error {
		if n == 0 {
			return nil
		}
		stmt := insert + valuesList(row, int(n))
		err := dst.write(q.ctx, func(dq *querier) error {
			_, err := dq.exec(stmt, batch...)
			return err
		})
		done += n
		progress(CopyProgress{Table: t.name, Rows: done, Total: total})
		batch, n, bytes = batch[:0], 0, 0
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i, c := range cols {
			switch {
			case slices.Contains(t.text, c):
				ptrs[i] = new(sql.NullString)
			case slices.Contains(t.blob, c):
				ptrs[i] = new([]byte)
			default:
				ptrs[i] = new(sql.NullInt64)
			}
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, q.fail(err)
		}
		for i, p := range ptrs {
			switch v := p.(type) {
			case *sql.NullString:
				if v.Valid {
					vals[i] = v.String
					bytes += int64(len(v.String))
				}
			case *[]byte:
				// nil is NULL; a non-nil empty value stays an empty
				// value (NOT NULL columns).
				if *v != nil {
					vals[i] = *v
					bytes += int64(len(*v))
				}
			case *sql.NullInt64:
				if v.Valid {
					vals[i] = v.Int64
					if i == seq {
						top = max(top, v.Int64)
					}
				}
			}
		}
		batch = append(batch, vals...)
		if n++; n >= copyRows || bytes >= copyBytes {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, q.fail(err)
	}
	return top, flush()
}
