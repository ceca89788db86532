package main

import "testing"

// TestRemoveAccountSyncData: what the accounts service calls when an
// owner deletes the account on the settings page empties the account's
// tokenserver records, and leaves other accounts' data.
func TestRemoveAccountSyncData(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	as, m := openAccountsStore(t, cfg)
	ctx := t.Context()
	a := seedAccount(t, as, "me@example.org")
	other := seedAccount(t, as, "other@example.org")
	syncUID := seedSyncData(t, m, a, "a bookmark")
	otherUID := seedSyncData(t, m, other, "other bookmark")

	if err := m.removeAccountSyncData(ctx, a.UID); err != nil {
		t.Fatal(err)
	}
	if n := bookmarkCount(t, m, syncUID); n > 0 {
		t.Errorf("%d bookmarks remain after the account's deletion", n)
	}
	if n := bookmarkCount(t, m, otherUID); n != 1 {
		t.Errorf("the other account has %d bookmarks, want 1", n)
	}
	// An account that never synced has nothing to delete: no error.
	never := seedAccount(t, as, "never@example.org")
	if err := m.removeAccountSyncData(ctx, never.UID); err != nil {
		t.Errorf("an account without Sync data: %v", err)
	}
}
