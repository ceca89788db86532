package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"syncserver/db"
)

// Devices and device commands of the built-in accounts. A device belongs
// to one credential (a session token's id hash or a refresh token's hash),
// with a unique index on it, so that Firefox registering one device twice
// at once, which it does, leaves one row.

const deviceCols = "uid, id, credential_hash, name, type, available_commands, push_callback, push_public_key, " +
	"push_auth_key, created_at, last_access"

func scanDevice(scan func(...any) error) (db.Device, error) {
	var d db.Device
	var commands string
	err := scan(&d.UID, &d.ID, &d.CredentialHash, &d.Name, &d.Type, &commands, &d.PushCallback, &d.PushPublicKey,
		&d.PushAuthKey, &d.CreatedAt, &d.LastAccess)
	if err != nil {
		return d, err
	}
	// Never nil: clients expect an object, even an empty one.
	d.AvailableCommands = map[string]string{}
	if commands != "" {
		if err := json.Unmarshal([]byte(commands), &d.AvailableCommands); err != nil {
			return d, fmt.Errorf("%w: device %s: available_commands: %w", db.ErrUnavailable, d.ID, err)
		}
	}
	return d, nil
}

// UpsertDevice registers or updates the device of d.CredentialHash: every
// field is replaced by d's but ID and CreatedAt, which a device keeps.
func (s *Store) UpsertDevice(ctx context.Context, d db.Device) (db.Device, error) {
	if len(d.CredentialHash) == 0 || d.UID == "" {
		return db.Device{}, errors.New("accounts: a device needs a uid and a credential")
	}
	commands := d.AvailableCommands
	if commands == nil {
		commands = map[string]string{}
	}
	cmdJSON, err := json.Marshal(commands)
	if err != nil {
		return db.Device{}, fmt.Errorf("accounts: device commands: %w", err)
	}
	var out db.Device
	err = s.write(ctx, func(q *querier) error {
		var owner, id string
		err := q.scan("SELECT uid, id FROM accounts_devices WHERE credential_hash = ?", []any{d.CredentialHash}, &owner, &id)
		switch {
		case err == nil && owner != d.UID:
			return fmt.Errorf("%w: the credential's device belongs to another account", db.ErrExists)
		case err == nil:
			_, err = q.exec(`UPDATE accounts_devices SET name = ?, type = ?, available_commands = ?, push_callback = ?,
				push_public_key = ?, push_auth_key = ?, last_access = ? WHERE credential_hash = ?`,
				d.Name, d.Type, string(cmdJSON), d.PushCallback, d.PushPublicKey, d.PushAuthKey, d.LastAccess, d.CredentialHash)
			if err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		default:
			// No device for the credential yet. A known device id of
			// the account moves to the credential (its client
			// re-authenticated); otherwise a new device. The upsert
			// makes a racing registration for the same credential an
			// update of the row the other one made.
			if d.ID == "" {
				return errors.New("accounts: a new device needs an id")
			}
			res, err := q.exec(`UPDATE accounts_devices SET credential_hash = ?, name = ?, type = ?, available_commands = ?,
				push_callback = ?, push_public_key = ?, push_auth_key = ?, last_access = ? WHERE uid = ? AND id = ?`,
				d.CredentialHash, d.Name, d.Type, string(cmdJSON), d.PushCallback, d.PushPublicKey, d.PushAuthKey,
				d.LastAccess, d.UID, d.ID)
			if err != nil {
				return err
			}
			// The credential changes, so MySQL counts the row too.
			if n, err := q.affected(res); err != nil {
				return err
			} else if n > 0 {
				return s.readDevice(q, d.CredentialHash, &out)
			}
			_, err = q.exec("INSERT INTO accounts_devices ("+deviceCols+") VALUES ("+placeholders(11)+")"+
				s.d.upsert([]string{"credential_hash"}, []string{s.d.set("name"), s.d.set("type"),
					s.d.set("available_commands"), s.d.set("push_callback"), s.d.set("push_public_key"),
					s.d.set("push_auth_key"), s.d.set("last_access")}),
				d.UID, d.ID, d.CredentialHash, d.Name, d.Type, string(cmdJSON), d.PushCallback, d.PushPublicKey,
				d.PushAuthKey, d.CreatedAt, d.LastAccess)
			if err != nil {
				return err
			}
		}
		return s.readDevice(q, d.CredentialHash, &out)
	})
	return out, err
}

func (s *Store) readDevice(q *querier, credential []byte, out *db.Device) error {
	d, err := scanDevice(func(dest ...any) error {
		return q.scan("SELECT "+deviceCols+" FROM accounts_devices WHERE credential_hash = ?", []any{credential}, dest...)
	})
	if err != nil {
		return notFound(err, "device")
	}
	*out = d
	return nil
}

// Devices lists the account's devices, oldest first.
func (s *Store) Devices(ctx context.Context, uid string) ([]db.Device, error) {
	var out []db.Device
	err := s.read(ctx, func(q *querier) error {
		out = nil // a retry starts again
		rows, err := q.query("SELECT "+deviceCols+" FROM accounts_devices WHERE uid = ? ORDER BY created_at, id", uid)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDevice(rows.Scan)
			if err != nil {
				return q.fail(err)
			}
			out = append(out, d)
		}
		return q.fail(rows.Err())
	})
	return out, err
}

// DeleteDevice deletes a device of the account and its commands.
func (s *Store) DeleteDevice(ctx context.Context, uid, id string) error {
	return s.write(ctx, func(q *querier) error {
		if err := q.deleteOne("device", "DELETE FROM accounts_devices WHERE uid = ? AND id = ?", uid, id); err != nil {
			return err
		}
		_, err := q.exec("DELETE FROM accounts_commands WHERE uid = ? AND target_device_id = ?", uid, id)
		return err
	})
}

// deleteDeviceOf deletes the device of a credential, if any, with its
// commands.
func deleteDeviceOf(q *querier, uid string, credential []byte) error {
	var id string
	err := q.scan("SELECT id FROM accounts_devices WHERE credential_hash = ?", []any{blob(credential)}, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := q.exec("DELETE FROM accounts_devices WHERE credential_hash = ?", blob(credential)); err != nil {
		return err
	}
	_, err = q.exec("DELETE FROM accounts_commands WHERE uid = ? AND target_device_id = ?", uid, id)
	return err
}

// PushDeviceCommand stores a command under the account's next index. The
// counter lives in the account's row and never goes back, so an index is
// never handed out twice even after the purge emptied the commands table;
// its UPDATE also serialises the account's senders, so the count of the
// target's queue that follows is not raced past the bound.
func (s *Store) PushDeviceCommand(ctx context.Context, c db.DeviceCommand, maxQueued int) (int64, error) {
	var index int64
	err := s.write(ctx, func(q *querier) error {
		res, err := q.exec("UPDATE accounts_users SET command_index = command_index + 1 WHERE uid = ?", c.UID)
		if err != nil {
			return err
		}
		if n, err := q.affected(res); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: account", db.ErrNotFound)
		}
		if maxQueued > 0 {
			var queued int
			if err := q.scan(`SELECT COUNT(*) FROM accounts_commands
				WHERE uid = ? AND target_device_id = ? AND (expires = 0 OR expires > ?)`,
				[]any{c.UID, c.TargetDeviceID, s.now().UnixMilli()}, &queued); err != nil {
				return err
			}
			if queued >= maxQueued {
				return fmt.Errorf("%w: %d commands wait for the device", db.ErrQueueFull, queued)
			}
		}
		if err := q.scan("SELECT command_index FROM accounts_users WHERE uid = ?", []any{c.UID}, &index); err != nil {
			return err
		}
		_, err = q.exec(`INSERT INTO accounts_commands (uid, idx, target_device_id, command, payload, sender, expires)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.UID, index, c.TargetDeviceID, c.Command, c.Payload, c.Sender, c.Expires)
		return err
	})
	return index, err
}

// DeviceCommands lists the device's unexpired commands after an index.
func (s *Store) DeviceCommands(ctx context.Context, uid, deviceID string, after int64, limit int) ([]db.DeviceCommand, error) {
	query := `SELECT idx, target_device_id, uid, command, payload, sender, expires FROM accounts_commands
		WHERE uid = ? AND target_device_id = ? AND idx > ? AND (expires = 0 OR expires > ?) ORDER BY idx`
	if limit > 0 {
		query += " LIMIT " + strconv.Itoa(limit)
	}
	var out []db.DeviceCommand
	err := s.read(ctx, func(q *querier) error {
		out = nil // a retry starts again
		rows, err := q.query(query, uid, deviceID, after, s.now().UnixMilli())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c db.DeviceCommand
			if err := rows.Scan(&c.Index, &c.TargetDeviceID, &c.UID, &c.Command, &c.Payload, &c.Sender, &c.Expires); err != nil {
				return q.fail(err)
			}
			out = append(out, c)
		}
		return q.fail(rows.Err())
	})
	return out, err
}
