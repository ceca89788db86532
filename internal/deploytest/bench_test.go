package deploytest

import (
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

const (
	// benchClients is how many clients send requests at the same time.
	benchClients = 16
	// benchWarmUp is how long they run before the measurement.
	benchWarmUp = 4 * time.Second
)

// BenchmarkInfoCollections304 measures requests per second through each
// front: the cheapest Sync request, GET info/collections answered 304 (Firefox
// asks it at the start of every sync), Hawk-signed, from benchClients
// concurrent clients on keep-alive connections. It is a measurement, not a
// test; README.md (Deployment) has the figures, from
//
//	go test -run '^$' -bench InfoCollections304 -benchtime 5s -count 5 ./internal/deploytest/
//
// standalone is syncserver's own HTTP server over plain HTTP; the others go
// through nginx or Apache over TLS (keep-alive, so mostly the cost of the
// hop and of FastCGI or HTTP to syncserver). Short runs understate
// mod_fcgid: whenever more requests arrive at once than it has processes,
// the extra ones wait about a second for one.
func BenchmarkInfoCollections304(b *testing.B) {
	cases := []struct {
		name string
		d    string
		s    setup
	}{
		{"standalone", "nginx-proxy-http", setup{noWebServer: true}},
		{"nginx-fastcgi-tcp", "nginx-fastcgi-tcp", setup{}},
		{"nginx-fastcgi-unix", "nginx-fastcgi-unix", setup{}},
		{"nginx-proxy-http", "nginx-proxy-http", setup{}},
		{"apache-proxy-fcgi-tcp", "apache-proxy-fcgi-tcp", setup{}},
		{"apache-fcgid", "apache-fcgid", setup{}},
		{"apache-proxy-http", "apache-proxy-http", setup{}},
	}
	for _, tc := range cases {
		// This level runs once and holds the deployment; the inner one
		// is called again for each b.N.
		b.Run(tc.name, func(b *testing.B) {
			c, since := benchSetup(b, findDeployment(b, tc.d), tc.s)
			b.Run("304", func(b *testing.B) {
				b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						r, err := c.do(http.MethodGet, "/info/collections", nil, since)
						if err != nil {
							b.Error(err)
							return
						}
						if r.Status != http.StatusNotModified {
							b.Errorf("GET info/collections: %s, want 304", r)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		})
	}
}

// benchSetup deploys, signs in and writes a record; it returns the client
// and the X-If-Modified-Since header that makes info/collections a 304.
func benchSetup(b *testing.B, d deployment, s setup) (*syncClient, map[string]string) {
	e := deploy(b, d, s)
	c := newSyncClient(e.http, e.fxa, e.base)
	if r, err := c.token(); err != nil || r.Status != http.StatusOK {
		b.Fatalf("token: %v %v", r, err)
	}
	r, err := c.do(http.MethodPut, "/storage/meta/global", mustJSON(b, bso{Payload: "{}"}), nil)
	if err != nil || r.Status != http.StatusOK {
		b.Fatalf("PUT meta/global: %v %v", r, err)
	}
	since := map[string]string{"X-If-Modified-Since": r.Header.Get("X-Last-Modified")}
	// Warm up with as many clients as the benchmark has, for long enough
	// that connections are open and mod_fcgid has started its processes
	// (it starts them one by one, seconds apart, while requests wait).
	var wg sync.WaitGroup
	end := time.Now().Add(benchWarmUp)
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if r, err := c.do(http.MethodGet, "/info/collections", nil, since); err != nil || r.Status != http.StatusNotModified {
					b.Errorf("GET info/collections: %v %v", r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return c, since
}
