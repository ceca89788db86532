package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"syncserver/db"
)

// Setting returns a server-wide setting (the generated secret, for one),
// db.ErrNotFound when absent.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var value string
	err := s.read(ctx, func(q *querier) error {
		return q.scan("SELECT value FROM settings WHERE name = ?", []any{name}, &value)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: setting %q", db.ErrNotFound, name)
	}
	return value, err
}

// InitSetting stores value under name unless a value is already there and
// returns the stored value either way, so that processes starting together
// agree on one value (the first writer's).
func (s *Store) InitSetting(ctx context.Context, name, value string) (string, error) {
	var stored string
	err := s.write(ctx, func(q *querier) error {
		if _, err := q.exec("INSERT INTO settings (name, value) VALUES (?, ?)"+s.d.upsert([]string{"name"}, nil), name, value); err != nil {
			return err
		}
		err := q.scan("SELECT value FROM settings WHERE name = ?", []any{name}, &stored)
		if errors.Is(err, sql.ErrNoRows) {
			err = fmt.Errorf("%w: setting %q missing after insert", db.ErrUnavailable, name)
		}
		return err
	})
	return stored, err
}
