package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"syncserver/db"
	"syncserver/handlers"
	"syncserver/internal/metrics"
)

// statsInterval is how often the metrics gauges (users, records, database
// size) are read again. They come from indexes and the database's own
// bookkeeping, but on a large database counting records still reads an
// index: every few minutes is plenty for a dashboard.
const statsInterval = 5 * time.Minute

// maxFirstPurgeDelay bounds the wait before the first purge after a start.
const maxFirstPurgeDelay = time.Minute

// Log keys of the background work.
const (
	logKeyExpired  = "expired_records"
	logKeyBatches  = "batches"
	logKeyItems    = "batch_items"
	logKeyReplaced = "replaced_uids"
	logKeyRepRows  = "replaced_records"
	logKeyAccounts = "accounts_rows"
	logKeyElapsed  = "duration"
)

// operations is what a serving process does besides answering requests:
// the periodic purge, and the metrics endpoint with its gauges.
type operations struct {
	log     *slog.Logger
	metrics *metrics.Metrics // nil without metrics_listen
	// accounts is set with [accounts] enabled and metrics on: the stats
	// loop counts its live sessions.
	accounts db.AccountsStore
	server   *metrics.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// attachMetrics creates the Prometheus metrics when metrics_listen is set
// and hands them to the core.
func (m *Main) attachMetrics(opts *handlers.Options) {
	m.ops = &operations{log: m.Logger}
	if m.Config.MetricsListen != "" {
		m.ops.metrics = metrics.New(Version())
		opts.Metrics = m.ops.metrics
	}
}

// startOperations starts the metrics endpoint and the background loops.
func (m *Main) startOperations() error {
	o := m.ops
	if o == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	if o.metrics != nil {
		srv, err := o.metrics.Listen(m.Config.MetricsListen)
		switch {
		case err == nil:
			o.server = srv
			m.Logger.Info("serving Prometheus metrics", "addr", "http://"+srv.Addr().String()+metrics.Path)
			if admin, ok := m.Store.(db.Admin); ok {
				o.wg.Go(func() { o.statsLoop(ctx, admin) })
			}
		case m.frontEnd == "fastcgi" && m.FCGIAddr == "":
			// A web server (Apache mod_fcgid) runs several processes of
			// one configuration: the first to bind serves the metrics,
			// the others serve Sync without.
			m.Logger.Warn("metrics_listen is taken, probably by another process of this web server; this one serves no metrics",
				"metrics_listen", m.Config.MetricsListen, "error", err.Error())
		default:
			cancel()
			return fmt.Errorf("metrics_listen %s: %w", m.Config.MetricsListen, err)
		}
	}
	purger, ok := m.Store.(db.Purger)
	switch {
	case m.Config.Purge.Interval <= 0:
		m.Logger.Info("background purge is off ([purge] interval = 0): run `syncserver purge` regularly")
	case !ok:
		m.Logger.Warn("this database cannot purge; expired records stay")
	default:
		o.wg.Go(func() { o.purgeLoop(ctx, purger, m.Store, m.purgeOptions(), m.Config.Purge.Interval) })
	}
	return nil
}

// MetricsAddr is the address of the metrics endpoint, nil when off.
func (m *Main) MetricsAddr() fmt.Stringer {
	if m.ops == nil || m.ops.server == nil {
		return nil
	}
	return m.ops.server.Addr()
}

// stopOperations stops the loops (a purge stops between two
// transactions) and the metrics endpoint.
func (m *Main) stopOperations(ctx context.Context) error {
	o := m.ops
	if o == nil {
		return nil
	}
	m.ops = nil
	if o.cancel != nil {
		o.cancel()
	}
	o.wg.Wait()
	if o.server != nil {
		return o.server.Close(ctx)
	}
	return nil
}

// purgeOptions are the configured purge settings.
func (m *Main) purgeOptions() db.PurgeOptions {
	p := m.Config.Purge
	return db.PurgeOptions{Grace: p.Grace, ReplacedGrace: p.ReplacedGrace, Chunk: p.RowsPerTransaction}
}

// purgeLoop purges every interval, the first time soon after the start.
// Processes sharing the database take turns (ClaimPurge), so that several
// FastCGI processes do not purge the same rows together.
func (o *operations) purgeLoop(ctx context.Context, p db.Purger, store db.Store, opts db.PurgeOptions, interval time.Duration) {
	t := time.NewTimer(min(interval, maxFirstPurgeDelay))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.purgeOnce(ctx, p, store, opts, interval)
		t.Reset(interval)
	}
}

// purgeOnce runs one background purge, if this process's turn.
func (o *operations) purgeOnce(ctx context.Context, p db.Purger, store db.Store, opts db.PurgeOptions, interval time.Duration) {
	claimed, err := p.ClaimPurge(ctx, interval*9/10)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Error("purge: cannot claim the periodic purge", "error", err.Error())
		}
		return
	}
	if !claimed {
		o.log.Debug("purge: another process purged recently")
		return
	}
	if o.metrics != nil {
		opts.Progress = o.metrics.PurgeProgress
	}
	start := time.Now()
	res, err := p.Purge(ctx, opts)
	elapsed := time.Since(start)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		o.log.Info("purge: stopped by shutdown", logKeyExpired, res.ExpiredRecords)
		return
	}
	if o.metrics != nil {
		o.metrics.PurgeDone(err, elapsed, time.Now())
	}
	attrs := []any{logKeyExpired, res.ExpiredRecords, logKeyBatches, res.Batches, logKeyItems, res.BatchItems,
		logKeyReplaced, len(res.ReplacedUIDs), logKeyRepRows, res.ReplacedRecords, logKeyAccounts, res.Accounts, logKeyElapsed, elapsed.Round(time.Millisecond)}
	switch {
	case err != nil:
		o.log.Error("purge failed; it runs again at the next interval", append(attrs, "error", err.Error())...)
	case res.Rows() > 0 || len(res.ReplacedUIDs) > 0:
		o.log.Info("purge: deleted what had expired", attrs...)
	default:
		o.log.Debug("purge: nothing to delete", attrs...)
	}
	if o.metrics != nil {
		if admin, ok := store.(db.Admin); ok && ctx.Err() == nil {
			o.refreshStats(ctx, admin)
		}
	}
}

// statsLoop refreshes the gauges at start and every statsInterval.
func (o *operations) statsLoop(ctx context.Context, admin db.Admin) {
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		o.refreshStats(ctx, admin)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (o *operations) refreshStats(ctx context.Context, admin db.Admin) {
	st, err := admin.Stats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("metrics: cannot read the database's totals", "error", err.Error())
		}
		return
	}
	o.metrics.SetStats(st, time.Now())
	if o.accounts != nil {
		n, err := o.accounts.CountSessions(ctx, time.Now().UnixMilli())
		if err != nil {
			if ctx.Err() == nil {
				o.log.Warn("metrics: cannot count the accounts' sessions", "error", err.Error())
			}
			return
		}
		o.metrics.SetAccountSessions(n)
	}
}
