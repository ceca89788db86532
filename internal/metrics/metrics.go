// Package metrics is syncserver's Prometheus exporter: it implements the
// handlers.Metrics hooks with the Prometheus Go client, counts what the
// purge deletes, keeps the server-wide gauges, and serves /metrics on a
// listen address of its own, apart from the Sync traffic. Only
// cmd/syncserver imports it; the protocol core never sees Prometheus.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"syncserver/db"
)

// Path is where the metrics are served.
const Path = "/metrics"

// namespace prefixes every metric of ours.
const namespace = "syncserver"

// latencyBuckets suit a server whose typical answer takes well under a
// millisecond (info/collections from memory) and whose slow ones are
// large uploads on a busy disk.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds every metric in its own registry. Its methods are safe for
// concurrent use; a nil *Metrics is not valid.
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	tokens       prometheus.Counter
	verify       *prometheus.CounterVec
	verifyTime   *prometheus.HistogramVec
	dbErrors     *prometheus.CounterVec
	purged       *prometheus.CounterVec
	purgeRuns    *prometheus.CounterVec
	purgeLast    prometheus.Gauge
	purgeSeconds prometheus.Gauge
	users        prometheus.Gauge
	records      *prometheus.GaugeVec
	dbBytes      *prometheus.GaugeVec
	statsAt      prometheus.Gauge
	signIns      *prometheus.CounterVec
	sessions     prometheus.Gauge

	// statuses holds the label of each HTTP status, so that counting a
	// request allocates nothing.
	statuses [600]string
}

// New builds the metrics, with the Go runtime's and the process's.
func New(version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; the version label says which syncserver runs.", ConstLabels: prometheus.Labels{"version": version}})
	build.Set(1)
	f(build)

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "requests_total",
		Help: "Requests answered, by endpoint (route), method and HTTP status."}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "request_duration_seconds",
		Help: "Time to answer a request, by endpoint (route) and method.", Buckets: latencyBuckets}, []string{"route", "method"})
	m.tokens = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "tokens_issued_total",
		Help: "Storage tokens handed to clients by the tokenserver."})
	m.verify = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "fxa_verifications_total",
		Help: "Checks of Firefox Accounts access tokens, by result (ok, rejected, invalid_generation, unavailable)."}, []string{"result"})
	m.verifyTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "fxa_verification_duration_seconds",
		Help: "Time to check a Firefox Accounts access token, by result.", Buckets: latencyBuckets}, []string{"result"})
	m.dbErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "database_errors_total",
		Help: "Database failures that reached a client as a 503, by kind (conflict, unavailable)."}, []string{"kind"})
	m.purged = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "purged_rows_total",
		Help: "Rows deleted by the purge, by kind (expired_records, batches, batch_items, replaced_records)."}, []string{"kind"})
	m.purgeRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "purge_runs_total",
		Help: "Background purges run, by result (ok, error)."}, []string{"result"})
	m.purgeLast = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "purge_last_success_timestamp_seconds",
		Help: "When the last purge finished without error (Unix time); 0 before the first."})
	m.purgeSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "purge_last_duration_seconds",
		Help: "How long the last purge ran."})
	m.users = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "users",
		Help: "Accounts with a current record (retired and replaced ones not counted)."})
	m.records = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "records",
		Help: "Stored records, by state (live, expired: awaiting the purge)."}, []string{"state"})
	m.dbBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "database_bytes",
		Help: "Size of the database, by part (total, free: what purge --vacuum would give back)."}, []string{"part"})
	m.statsAt = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "stats_refreshed_timestamp_seconds",
		Help: "When the users, records and database_bytes gauges were last read (Unix time)."})
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "accounts_sign_ins_total",
		Help: "Password sign-ins to the built-in accounts, by result (ok; failed: wrong password, unknown email, disabled account or too many attempts)."}, []string{"result"})
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "accounts_active_sessions",
		Help: "Live session tokens of the built-in accounts (signed-in browsers and phones), read with the other totals."})
	// Both results from the start, so that a rate of failures is
	// defined before the first one.
	m.signIns.WithLabelValues("ok")
	m.signIns.WithLabelValues("failed")
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.tokens, m.verify, m.verifyTime, m.dbErrors,
		m.purged, m.purgeRuns, m.purgeLast, m.purgeSeconds, m.users, m.records, m.dbBytes, m.statsAt, m.signIns, m.sessions} {
		f(c)
	}
	for i := range m.statuses {
		m.statuses[i] = strconv.Itoa(i)
	}
	return m
}

// methodLabel keeps the method label to the methods Sync uses.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// Request counts one answered request (handlers.Metrics).
func (m *Metrics) Request(route, method string, status int, elapsed time.Duration) {
	method = methodLabel(method)
	s := "other"
	if status >= 0 && status < len(m.statuses) {
		s = m.statuses[status]
	}
	m.requests.WithLabelValues(route, method, s).Inc()
	m.latency.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// TokenIssued counts a storage token (handlers.Metrics).
func (m *Metrics) TokenIssued() { m.tokens.Inc() }

// Verification counts an FxA token check (handlers.Metrics).
func (m *Metrics) Verification(result string, elapsed time.Duration) {
	m.verify.WithLabelValues(result).Inc()
	m.verifyTime.WithLabelValues(result).Observe(elapsed.Seconds())
}

// DatabaseError counts a database failure (handlers.Metrics).
func (m *Metrics) DatabaseError(kind string) { m.dbErrors.WithLabelValues(kind).Inc() }

// PurgeProgress counts what one purge transaction deleted; it is meant
// as db.PurgeOptions.Progress, so the counter moves while a purge runs.
// Replaced users are counted by their records, not as rows.
func (m *Metrics) PurgeProgress(p db.PurgeProgress) {
	if p.Kind == db.PurgeReplacedUsers {
		return
	}
	m.purged.WithLabelValues(p.Kind).Add(float64(p.Rows))
}

// PurgeDone records the end of a background purge.
func (m *Metrics) PurgeDone(err error, elapsed time.Duration, end time.Time) {
	m.purgeSeconds.Set(elapsed.Seconds())
	if err != nil {
		m.purgeRuns.WithLabelValues("error").Inc()
		return
	}
	m.purgeRuns.WithLabelValues("ok").Inc()
	m.purgeLast.Set(float64(end.UnixNano()) / 1e9)
}

// SetStats sets the server-wide gauges.
func (m *Metrics) SetStats(st db.Stats, at time.Time) {
	m.users.Set(float64(st.Users))
	m.records.WithLabelValues("live").Set(float64(st.Records))
	m.records.WithLabelValues("expired").Set(float64(st.ExpiredRecords))
	if st.DatabaseBytes >= 0 {
		m.dbBytes.WithLabelValues("total").Set(float64(st.DatabaseBytes))
	}
	if st.FreeBytes >= 0 {
		m.dbBytes.WithLabelValues("free").Set(float64(st.FreeBytes))
	}
	m.statsAt.Set(float64(at.UnixNano()) / 1e9)
}

// SignIn counts a password sign-in to the built-in accounts
// (accounts.Metrics).
func (m *Metrics) SignIn(ok bool) {
	result := "failed"
	if ok {
		result = "ok"
	}
	m.signIns.WithLabelValues(result).Inc()
}

// SetAccountSessions sets the built-in accounts' live session count.
func (m *Metrics) SetAccountSessions(n int64) { m.sessions.Set(float64(n)) }

// Handler serves the metrics in Prometheus' text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Server serves /metrics on a listener of its own.
type Server struct {
	srv  *http.Server
	l    net.Listener
	done chan error
}

// Listen starts serving /metrics on addr ("127.0.0.1:9090"; port 0 picks
// one).
func (m *Metrics) Listen(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, m.Handler())
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute},
		l:    l,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

// Addr is the address the metrics are served on.
func (s *Server) Addr() net.Addr { return s.l.Addr() }

// Close stops serving, letting a scrape in progress finish until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
