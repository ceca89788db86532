package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"syncserver/db"
)

// syncserver purge: what the background purge does, once, for cron (and
// for a server run with [purge] interval = 0), with --dry-run to see what
// would go and --vacuum to give the space back to the file system.

func purgeCommand() command {
	return command{
		summary: "delete expired records, abandoned batches and replaced accounts' data (--dry-run, --vacuum)",
		run:     runPurge,
	}
}

// purgeReport is the JSON form of a purge's outcome.
type purgeReport struct {
	DryRun          bool     `json:"dry_run"`
	GraceSeconds    float64  `json:"grace_seconds"`
	ReplacedSeconds float64  `json:"replaced_grace_seconds"`
	ExpiredRecords  int64    `json:"expired_records"`
	Batches         int64    `json:"batches"`
	BatchItems      int64    `json:"batch_items"`
	ReplacedUIDs    []db.UID `json:"replaced_uids"`
	ReplacedRecords int64    `json:"replaced_records"`
	// Accounts: expired codes, keyFetch tokens, invites and device
	// commands of the built-in accounts.
	Accounts int64     `json:"accounts_rows"`
	Database *dbReport `json:"database,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// dbReport is the database's size around a vacuum.
type dbReport struct {
	Vacuumed    bool  `json:"vacuumed"`
	BytesBefore int64 `json:"bytes_before"`
	FreeBefore  int64 `json:"free_bytes_before"`
	BytesAfter  int64 `json:"bytes_after,omitempty"`
}

func runPurge(ctx context.Context, m *Main) int {
	fs := m.newFlags("purge", "purge [--dry-run] [--vacuum] [--grace DURATION] [--replaced-grace DURATION] [--json]")
	dryRun := fs.Bool("dry-run", false, "count what would be deleted; delete nothing")
	vacuum := fs.Bool("vacuum", false, "then give the space back to the file system (SQLite VACUUM, MySQL OPTIMIZE TABLE);\n"+
		"writes wait while it runs, and SQLite needs as much free disk as the database takes")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var grace, replaced durationFlag
	fs.Var(&grace, "grace", "keep expired records and abandoned batches this long: seconds, or 36h (default: [purge] grace)")
	fs.Var(&replaced, "replaced-grace", "keep the data of replaced and retired accounts this long (default: [purge] replaced_grace)")
	pos, err := parseInterleaved(fs, m.Args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return m.badArgs(fs, "purge takes no arguments, got %q", pos)
	}
	if err := m.load(ctx); err != nil {
		return m.fail(err)
	}
	defer m.Close()
	p, ok := m.Store.(db.Purger)
	if !ok {
		return m.fail(errors.New("this database cannot purge"))
	}
	opts := m.purgeOptions()
	if grace.set {
		opts.Grace = grace.d
	}
	if replaced.set {
		opts.ReplacedGrace = replaced.d
	}
	// An operator waiting at a terminal sees each kind's progress.
	show := isTerminal(m.Stderr) && !*asJSON
	var prog *purgeProgress
	if show && !*dryRun {
		counts := opts
		counts.DryRun = true
		if total, err := p.Purge(ctx, counts); err == nil && total.Rows() > 0 {
			prog = &purgeProgress{w: m.Stderr, total: total, done: map[string]int64{}}
			opts.Progress = prog.report
		}
	}
	opts.DryRun = *dryRun
	res, err := p.Purge(ctx, opts)
	prog.finish()
	rep := purgeReport{DryRun: *dryRun, GraceSeconds: opts.Grace.Seconds(), ReplacedSeconds: opts.ReplacedGrace.Seconds(),
		ExpiredRecords: res.ExpiredRecords, Batches: res.Batches, BatchItems: res.BatchItems,
		ReplacedUIDs: res.ReplacedUIDs, ReplacedRecords: res.ReplacedRecords, Accounts: res.Accounts}
	if rep.ReplacedUIDs == nil {
		rep.ReplacedUIDs = []db.UID{}
	}
	if err == nil && !*dryRun {
		// The server's own periodic purge can wait a whole interval now.
		_, err = p.ClaimPurge(ctx, 0)
	}
	if err == nil && *vacuum {
		rep.Database, err = m.vacuum(ctx, p, *dryRun, show)
	}
	if err != nil {
		rep.Error = err.Error()
	}
	if *asJSON {
		if werr := writeJSON(m.Stdout, rep); werr != nil && err == nil {
			err = werr
		}
	} else {
		printPurge(m.Stdout, rep)
	}
	if err != nil {
		return m.fail(err)
	}
	return exitOK
}

// vacuum compacts the database (or, in a dry run, tells how much it
// would give back), showing the time it takes on a terminal.
func (m *Main) vacuum(ctx context.Context, p db.Purger, dryRun, show bool) (*dbReport, error) {
	admin, ok := m.Store.(db.Admin)
	if !ok {
		return nil, errors.New("this database cannot report its size")
	}
	before, err := admin.Stats(ctx)
	if err != nil {
		return nil, err
	}
	rep := &dbReport{BytesBefore: before.DatabaseBytes, FreeBefore: before.FreeBytes}
	if dryRun {
		return rep, nil
	}
	var mu sync.Mutex
	step := "compacting"
	done := make(chan struct{})
	var wg sync.WaitGroup
	if show {
		start := time.Now()
		wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				mu.Lock()
				fmt.Fprintf(m.Stderr, "\r\033[K%s… %s", step, time.Since(start).Round(time.Second))
				mu.Unlock()
				select {
				case <-done:
					fmt.Fprint(m.Stderr, "\r\033[K")
					return
				case <-t.C:
				}
			}
		})
	}
	err = p.Compact(ctx, func(s string) {
		mu.Lock()
		step = s
		mu.Unlock()
	})
	close(done)
	wg.Wait()
	if err != nil {
		return rep, err
	}
	after, err := admin.Stats(ctx)
	if err != nil {
		return rep, err
	}
	rep.Vacuumed, rep.BytesAfter = true, after.DatabaseBytes
	return rep, nil
}

// purgeProgress draws one line per kind of row on the terminal: "expired
// records 3000/12000 (25%)".
type purgeProgress struct {
	w     io.Writer
	total db.PurgeResult
	done  map[string]int64
	kind  string
}

func (pp *purgeProgress) report(p db.PurgeProgress) {
	if p.Kind == db.PurgeReplacedUsers {
		return
	}
	if pp.kind != "" && pp.kind != p.Kind {
		fmt.Fprintln(pp.w)
	}
	pp.kind = p.Kind
	pp.done[p.Kind] += p.Rows
	total := map[string]int64{db.PurgeExpiredRecords: pp.total.ExpiredRecords, db.PurgeBatches: pp.total.Batches,
		db.PurgeBatchItems: pp.total.BatchItems, db.PurgeReplacedRows: pp.total.ReplacedRecords, db.PurgeAccountsRows: pp.total.Accounts}[p.Kind]
	done := pp.done[p.Kind]
	pct := int64(100)
	if total > done {
		pct = done * 100 / total
	}
	fmt.Fprintf(pp.w, "\r\033[Kpurging %s: %d/%d (%d%%)", purgeLabels[p.Kind], done, max(total, done), pct)
}

func (pp *purgeProgress) finish() {
	if pp != nil && pp.kind != "" {
		fmt.Fprintln(pp.w)
	}
}

var purgeLabels = map[string]string{
	db.PurgeExpiredRecords: "expired records",
	db.PurgeBatches:        "abandoned batches",
	db.PurgeBatchItems:     "records staged in abandoned batches",
	db.PurgeReplacedRows:   "records of replaced accounts",
}

// printPurge is the purge's outcome for people.
func printPurge(w io.Writer, r purgeReport) {
	verb := "Deleted"
	if r.DryRun {
		verb = "Would delete"
	}
	fmt.Fprintf(w, "%s (grace %s for expired data, %s for replaced and retired accounts):\n", verb,
		formatGrace(time.Duration(r.GraceSeconds*float64(time.Second))), formatGrace(time.Duration(r.ReplacedSeconds*float64(time.Second))))
	t := newTable(w)
	t.row("  expired records", r.ExpiredRecords)
	t.row("  abandoned batches", fmt.Sprintf("%d (%d staged records)", r.Batches, r.BatchItems))
	t.row("  replaced or retired uids", fmt.Sprintf("%d (%d records)%s", len(r.ReplacedUIDs), r.ReplacedRecords, uidList(r.ReplacedUIDs)))
	t.row("  built-in accounts", fmt.Sprintf("%d expired codes, keyFetch tokens, invites, device commands", r.Accounts))
	t.flush()
	if d := r.Database; d != nil {
		switch {
		case d.Vacuumed:
			fmt.Fprintf(w, "Database: %s before, %s after compaction.\n", formatBytes(d.BytesBefore), formatBytes(d.BytesAfter))
		case d.FreeBefore >= 0:
			fmt.Fprintf(w, "Database: %s, of which %s is free space that purge --vacuum gives back.\n",
				formatBytes(d.BytesBefore), formatBytes(d.FreeBefore))
		default:
			fmt.Fprintf(w, "Database: %s.\n", formatBytes(d.BytesBefore))
		}
	}
	if r.Error != "" {
		fmt.Fprintf(w, "Stopped by an error: %s\n", r.Error)
	}
}

// uidList shows a few uids, not a screenful.
func uidList(uids []db.UID) string {
	if len(uids) == 0 {
		return ""
	}
	if len(uids) > 10 {
		return fmt.Sprintf(" %v…", uids[:10])
	}
	return fmt.Sprint(" ", uids)
}
