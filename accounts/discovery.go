package accounts

import (
	"context"
	"strings"

	"syncserver/handlers"
)

// clientConfiguration is what Firefox's autoconfig reads (spec §2): base
// URLs without a version suffix or trailing slash, since desktop appends
// /v1 itself and mobile joins v1/… to them.
func (s *Service) clientConfiguration(_ context.Context, c *call) (*handlers.Response, error) {
	return s.jsonOK(c, map[string]any{
		"auth_server_base_url":      s.origin,
		"oauth_server_base_url":     s.origin,
		"profile_server_base_url":   s.origin + "/profile",
		"sync_tokenserver_base_url": strings.TrimSuffix(s.opts.TokenServerURL, "/"),
		"pairing_server_base_uri":   nil,
	})
}

// openidConfiguration is the document the mobile library fetches beside
// the client configuration; it opens authorization_endpoint.
func (s *Service) openidConfiguration(_ context.Context, c *call) (*handlers.Response, error) {
	return s.jsonOK(c, map[string]any{
		"issuer":                                s.origin,
		"authorization_endpoint":                s.origin + "/authorization",
		"token_endpoint":                        s.origin + "/v1/token",
		"userinfo_endpoint":                     s.origin + "/profile/v1/profile",
		"introspection_endpoint":                s.origin + "/v1/introspect",
		"revocation_endpoint":                   s.origin + "/v1/destroy",
		"jwks_uri":                              s.origin + "/v1/jwks",
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      allowedScopeList,
	})
}
