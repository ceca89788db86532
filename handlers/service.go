package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// root answers "/" so an operator's browser sees the server is up.
func (s *Server) root(c *call) *Response {
	return textResponse(http.StatusOK, "it works!\n")
}

// lbheartbeat answers load balancers that only want to know the process is
// alive.
func (s *Server) lbheartbeat(c *call) *Response {
	return jsonResponse(http.StatusOK, []byte("{}"))
}

// version reports the build.
func (s *Server) version(c *call) *Response {
	body, _ := json.Marshal(map[string]string{
		"version": s.opts.Version,
		"source":  "syncserver",
	})
	return jsonResponse(http.StatusOK, body)
}

// heartbeatTimeout bounds the database check of /__heartbeat__.
const heartbeatTimeout = 5 * time.Second

// heartbeat reports whether the server can serve: 200 when the database
// answers, 503 when it does not, with the reason in the JSON body.
func (s *Server) heartbeat(ctx context.Context, c *call) *Response {
	ctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
	defer cancel()
	status, database, code := "Ok", "Ok", http.StatusOK
	dbErr := ""
	if err := s.opts.Store.Ping(ctx); err != nil {
		status, database, code = "Err", "Err", http.StatusServiceUnavailable
		dbErr = "database unreachable"
		s.log.Error("heartbeat: database check failed", logError, err.Error())
		s.countDatabaseError(err)
	}
	out := map[string]any{
		"status":   status,
		"database": database,
		"version":  s.opts.Version,
		"quota": map[string]any{
			"enabled": s.opts.QuotaBytes > 0,
			"size":    s.opts.QuotaBytes,
		},
	}
	if dbErr != "" {
		out["database_error"] = dbErr
	}
	body, _ := json.Marshal(out)
	resp := jsonResponse(code, body)
	if code != http.StatusOK {
		resp.Header.Set("Retry-After", "60")
	}
	return resp
}
