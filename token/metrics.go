package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// FxAKID builds the token's fxa_kid from FxA's keys-changed-at timestamp (or,
// lacking one, the generation) and the hex client state, so that the storage
// side can tell which key generation a client encrypts with. An empty client
// state leaves nothing after the dash, as the legacy tokenserver does.
func FxAKID(keysChangedAtOrGeneration int64, clientStateHex string) (string, error) {
	cs, err := hex.DecodeString(clientStateHex)
	if err != nil {
		return "", fmt.Errorf("token: client state is not hex: %w", err)
	}
	return fmt.Sprintf("%013d-%s", keysChangedAtOrGeneration, base64.RawURLEncoding.EncodeToString(cs)), nil
}

// MetricsHash returns the first 32 hex digits of HMAC-SHA256(key, msg). It
// gives metrics and logs a stable pseudonymous user id (hashed_fxa_uid) that
// does not reveal the FxA uid.
func MetricsHash(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// HashedDeviceID returns the pseudonymous device id carried in tokens. OAuth
// clients send no device id, so deviceID "" hashes the literal "none", as the
// legacy tokenserver does.
func HashedDeviceID(key, hashedFxAUID, deviceID string) string {
	if deviceID == "" {
		deviceID = "none"
	}
	return MetricsHash(key, hashedFxAUID+deviceID)
}
